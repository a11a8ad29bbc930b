#!/usr/bin/env python3
"""System-user exchange benchmark: how many PartnerSystemUser/Authenticate exchanges per
second Gatehouse serves, and its CPU per exchange (the floor is one RSA verification plus one
RS256 signature). A signed system token is single-use and carries a minute timestamp, so the
load is N tenants × the 11 valid minutes of the ±5-minute window, signed in advance.

    pip install cryptography && python3 bench/system_user.py --tenants 100 --threads 8
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
import common  # noqa: E402
from superid_system_user import key_from_rsa_xml  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
import base64  # noqa: E402


def system_tokens(server, client_id):
    sql = ("SELECT t.ctx, r.system_token FROM authorization_records r JOIN tenants t ON t.id = r.tenant_id "
           f"JOIN apps a ON a.id = r.app_id WHERE a.client_id = '{client_id}'")
    if server.db.startswith("sqlite://"):
        import sqlite3
        return sqlite3.connect(server.db[len("sqlite://"):]).execute(sql).fetchall()
    out = common.sh("psql", server.db, "-At", "-F", "\t", "-c", sql)
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenants", type=int, default=100)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    common.ensure_release_build()
    for backend in args.backends.split(","):
        server = common.Gatehouse(backend)
        server.start()
        try:
            cli = server.cli
            partner = cli("partner", "add", "--name", "Bench SU")["id"]
            app = cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", "SU", "--public")
            client_id, secret = app["app"]["client_id"], app["client_secret"]["secret"]
            key = key_from_rsa_xml(cli("app", "cert", "generate", client_id)["private_key_rsa_xml"])
            for i in range(args.tenants):
                cli("tenant", "add", "--ctx", f"Su{i}", "--name", f"Tenant {i}")
                cli("tenant", "approve", "--ctx", f"Su{i}", "--client-id", client_id)
            now = datetime.datetime.now(datetime.timezone.utc)
            bodies = []
            for ctx, token in system_tokens(server, client_id):
                for minute in range(-5, 6):
                    stamp = (now + datetime.timedelta(minutes=minute)).strftime("%Y%m%d%H%M")
                    msg = f"{token}.{stamp}"
                    sig = base64.b64encode(key.sign(msg.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
                    bodies.append(json.dumps({"SignedSystemToken": f"{msg}.{sig}", "ApplicationToken": secret,
                                              "ContextIdentifier": ctx, "ReturnTokenType": "JWT"}))
            ok, failed, lock = [0], [0], threading.Lock()

            def worker(chunk):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                for body in chunk:
                    conn.request("POST", "/Login/api/PartnerSystemUser/Authenticate", body=body,
                                 headers={"Content-Type": "application/json"})
                    answer = json.loads(conn.getresponse().read())
                    with lock:
                        (ok if answer["IsSuccessful"] else failed)[0] += 1

            chunks = [bodies[i::args.threads] for i in range(args.threads)]
            cpu0, t0 = common.cpu_ticks(server.proc.pid), time.time()
            threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=300)
            elapsed, cpu_ms = time.time() - t0, (common.cpu_ticks(server.proc.pid) - cpu0) * 1000 / common.TICK
            print(f"{server.name:20} system-user exchanges {ok[0] / elapsed:7.0f}/s  cpu {cpu_ms / max(ok[0], 1):.3f} ms each  "
                  f"({ok[0]} accepted, {failed[0]} refused)", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
