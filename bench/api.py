#!/usr/bin/env python3
"""Admin API and webhook benchmark (issue 19): Gatehouse (release build) on SQLite and
PostgreSQL, with a partner's admin:partner token.

- API latency: GET /api/v1/apps/{id} one at a time (p50/p99) and from 8 clients at once
  (requests/s); a secret rotation (POST …/secrets, then DELETE the new one) one at a time.
- Webhooks: each rotation queues two events (secret.created, secret.revoked) for the app's
  webhook, a listener on loopback that answers 200 at once. Reported: events per second
  delivered while the rotations run, and the delay from the API's answer to the event's arrival.

Writes bench/api-results.md.

    python3 bench/api.py                    # both databases
    python3 bench/api.py --backends sqlite --rotations 50
"""

import argparse
import http.client
import http.server
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, Gatehouse, ensure_release_build, percentile, wait_for_builds  # noqa: E402


class Listener(http.server.ThreadingHTTPServer):
    """The partner's webhook endpoint: records (arrival time, event) and answers 200."""

    daemon_threads = True

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(h):  # noqa: N805
                body = h.rfile.read(int(h.headers.get("content-length", 0)))
                with self.lock:
                    self.events.append((time.monotonic(), json.loads(body)))
                h.send_response(200)
                h.send_header("content-length", "0")
                h.end_headers()

            def log_message(h, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


def call(conn, method, path, token, body=None):
    headers = {"authorization": f"Bearer {token}"}
    if body is not None:
        headers["content-type"] = "application/json"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    res = conn.getresponse()
    data = res.read()
    return res.status, (json.loads(data) if data else None)


def seed(server, listener):
    partner = server.cli("partner", "add", "--name", "Bench")["id"]
    ci = server.cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", "bench CI")
    server.cli("app", "entitlement", ci["app"]["client_id"], "admin:partner")
    target = server.cli("app", "create", "--partner", partner, "--template", "web", "--name", "bench target",
                        "--redirect-uri", "https://app.example.com/cb")
    server.cli("app", "webhook", "add", target["app"]["client_id"], listener.url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "admin:partner"})
    import base64
    basic = base64.b64encode(f"{ci['app']['client_id']}:{ci['client_secret']['secret']}".encode()).decode()
    conn.request("POST", "/token", body=form,
                 headers={"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {basic}"})
    token = json.loads(conn.getresponse().read())["access_token"]
    return token, target["app"]["client_id"]


def reads(server, token, client_id, n):
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = call(conn, "GET", f"/api/v1/apps/{client_id}", token)
        times.append((time.perf_counter() - t) * 1000)
        assert status == 200, status
    return times


def concurrent_reads(server, token, client_id, clients, seconds):
    done = [0] * clients
    stop = time.monotonic() + seconds

    def run(i):
        conn = http.client.HTTPConnection("127.0.0.1", server.port)
        while time.monotonic() < stop:
            status, _ = call(conn, "GET", f"/api/v1/apps/{client_id}", token)
            assert status == 200, status
            done[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


def rotations(server, token, client_id, listener, n):
    conn = http.client.HTTPConnection("127.0.0.1", server.port)
    answered = {}  # secret id -> when the API answered its creation
    create, revoke = [], []
    started = time.monotonic()
    for _ in range(n):
        t = time.perf_counter()
        status, issued = call(conn, "POST", f"/api/v1/apps/{client_id}/secrets", token, {})
        create.append((time.perf_counter() - t) * 1000)
        assert status == 201, (status, issued)
        answered[issued["id"]] = time.monotonic()
        t = time.perf_counter()
        status, _ = call(conn, "DELETE", f"/api/v1/apps/{client_id}/secrets/{issued['id']}", token)
        revoke.append((time.perf_counter() - t) * 1000)
        assert status == 204, status
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with listener.lock:
            if len(listener.events) >= 2 * n:
                break
        time.sleep(0.05)
    with listener.lock:
        events = list(listener.events)
    last = max(at for at, _ in events)
    delays = [(at - answered[e["data"]["secret_id"]]) * 1000 for at, e in events
              if e["type"] == "secret.created" and e["data"]["secret_id"] in answered]
    return {
        "create_p50": statistics.median(create), "create_p99": percentile(create, 99),
        "revoke_p50": statistics.median(revoke), "revoke_p99": percentile(revoke, 99),
        "events": len(events), "events_per_s": len(events) / (last - started),
        "delay_p50": statistics.median(delays), "delay_p99": percentile(delays, 99),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--reads", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rotations", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "api-results.md"))
    args = ap.parse_args()
    wait_for_builds()
    ensure_release_build()
    rows = []
    for backend in args.backends.split(","):
        listener = Listener()
        server = Gatehouse(backend)
        server.env["GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS"] = "true"
        server.start()
        try:
            token, client_id = seed(server, listener)
            reads(server, token, client_id, 50)  # warm up
            times = reads(server, token, client_id, args.reads)
            rps = concurrent_reads(server, token, client_id, 8, args.seconds)
            rot = rotations(server, token, client_id, listener, args.rotations)
            rows.append((backend, statistics.median(times), percentile(times, 99), rps, rot))
            print(backend, rows[-1], flush=True)
        finally:
            server.stop()
            listener.shutdown()
    with open(args.out, "w") as f:
        f.write("# Admin API and webhooks (issue 19)\n\n")
        f.write(f"`python3 bench/api.py` on {time.strftime('%Y-%m-%d')}, release build, 2 cores shared with the "
                f"load generator (Python, http.client). {args.reads} sequential reads, 8 concurrent readers for "
                f"{args.seconds} s, {args.rotations} secret rotations (two webhook events each).\n\n")
        f.write("| figure | " + " | ".join(r[0] for r in rows) + " |\n|---|" + "---|" * len(rows) + "\n")
        lines = [
            ("GET app, p50 / p99 (ms)", lambda r: f"{r[1]:.2f} / {r[2]:.2f}"),
            ("GET app, 8 clients (req/s)", lambda r: f"{r[3]:.0f}"),
            ("new secret, p50 / p99 (ms)", lambda r: f"{r[4]['create_p50']:.2f} / {r[4]['create_p99']:.2f}"),
            ("revoke secret, p50 / p99 (ms)", lambda r: f"{r[4]['revoke_p50']:.2f} / {r[4]['revoke_p99']:.2f}"),
            ("webhook events delivered", lambda r: f"{r[4]['events']}"),
            ("webhook events/s while rotating", lambda r: f"{r[4]['events_per_s']:.0f}"),
            ("API answer → event arrives, p50 / p99 (ms)", lambda r: f"{r[4]['delay_p50']:.1f} / {r[4]['delay_p99']:.1f}"),
        ]
        for name, fmt in lines:
            f.write(f"| {name} | " + " | ".join(fmt(r) for r in rows) + " |\n")
    print(open(args.out).read())


if __name__ == "__main__":
    main()
