#!/usr/bin/env python3
"""Sign-in benchmark: authorization-code round trips for a user who already has a session
(GET /authorize -> code -> POST /token with an RS256 ID token) and refreshes (rotating), per
second and in server CPU per round trip, on SQLite and PostgreSQL. Load comes from Python
threads on loopback; every run is bounded by --duration.

    python3 bench/signin.py --duration 10 --threads 8
"""

import argparse
import os
import re
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (servers, /proc accounting, the HTTP client and the sign-in walk)

REDIRECT = "https://app.example.com/cb"
PASSWORD = "a long enough passphrase"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = common.pkce_challenge(VERIFIER)


def authorize_path(client_id):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                "scope": "openid profile", "state": "s", "code_challenge": CHALLENGE,
                                "code_challenge_method": "S256"})
    return "/authorize?" + q


def sign_in(c, client_id):
    """Walks the pages once (login, approval, consent); returns the first code."""
    return common.code_from(common.gatehouse_sign_in(c, authorize_path(client_id), "bench@example.com", PASSWORD, REDIRECT))


def token(c, auth, form):
    status, _, body = c.request("POST", "/token", urllib.parse.urlencode(form), f"Authorization: {auth}\r\n")
    if status != 200:
        raise RuntimeError(f"token {status}: {body}")
    return body.decode()


def bench(server, threads, duration):
    server.start()
    cli = server.cli
    partner = cli("partner", "add", "--name", "Bench")["id"]
    cli("tenant", "add", "--ctx", "Bench1", "--name", "Bench", "--partner", partner, "--mfa", "off")
    cli("user", "add", "--email", "bench@example.com", "--tenant", "Bench1", "--admin", "--password-stdin",
        stdin=PASSWORD + "\n")
    app = cli("app", "create", "--partner", partner, "--template", "web", "--name", "Bench web", "--redirect-uri", REDIRECT)
    client_id, secret = app["app"]["client_id"], app["client_secret"]["secret"]
    auth = common.basic(client_id, secret)
    results = {}

    def code_loop(stop, counts, i):
        c = common.Http(server.port)
        sign_in(c, client_id)
        while not stop.is_set():
            _, headers, _ = c.request("GET", authorize_path(client_id))
            token(c, auth, {"grant_type": "authorization_code", "code": common.code_from(headers["location"]), "redirect_uri": REDIRECT,
                            "code_verifier": VERIFIER})
            counts[i] += 1

    def refresh_loop(stop, counts, i):
        c = common.Http(server.port)
        first = sign_in(c, client_id)
        body = token(c, auth, {"grant_type": "authorization_code", "code": first, "redirect_uri": REDIRECT,
                               "code_verifier": VERIFIER})
        refresh = re.search(r'"refresh_token":"([^"]+)"', body).group(1)
        while not stop.is_set():
            body = token(c, auth, {"grant_type": "refresh_token", "refresh_token": refresh})
            refresh = re.search(r'"refresh_token":"([^"]+)"', body).group(1)
            counts[i] += 1

    try:
        for name, loop in [("code round trip", code_loop), ("refresh", refresh_loop)]:
            stop, counts = threading.Event(), [0] * threads
            workers = [threading.Thread(target=loop, args=(stop, counts, i)) for i in range(threads)]
            for w in workers:
                w.start()
            time.sleep(1)  # every thread signed in
            start_counts, start_cpu, t0 = sum(counts), common.cpu_ticks(server.proc.pid), time.time()
            time.sleep(duration)
            done, cpu_ms, elapsed = sum(counts) - start_counts, (common.cpu_ticks(server.proc.pid) - start_cpu) * 1000 / common.TICK, time.time() - t0
            stop.set()
            for w in workers:
                w.join(timeout=30)
            results[name] = (done / elapsed, cpu_ms / max(done, 1))
            print(f"{server.name:20} {name:16} {done / elapsed:8.0f}/s  cpu {cpu_ms / max(done, 1):.3f} ms each", flush=True)
        results["rss"] = common.peak_rss_mib(server.proc.pid)
    finally:
        server.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    common.ensure_release_build()
    for backend in args.backends.split(","):
        bench(common.Gatehouse(backend), args.threads, args.duration)


if __name__ == "__main__":
    sys.exit(main())
