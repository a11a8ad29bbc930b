#!/usr/bin/env python3
"""Latency probe for F10, run as its own process so the storm's threads do not share its
interpreter: sequential GET /jwks and client_credentials requests for SECONDS, then one JSON
line with every latency in milliseconds.

    python3 faults/measure.py URL CLIENT_ID SECRET SECONDS
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pytools"))
from gatehouse_harness import basic  # noqa: E402

url, client_id, secret, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
host, port = urllib.parse.urlparse(url).netloc.split(":")
auth = basic(client_id, secret)
results = {"jwks": [], "client_credentials": [], "errors": {}}


def loop(kind):
    deadline = time.monotonic() + seconds
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for _ in range(1_000_000):  # bounded by the deadline long before
        if time.monotonic() > deadline:
            return
        began = time.perf_counter()
        try:
            if kind == "jwks":
                conn.request("GET", "/jwks")
            else:
                conn.request("POST", "/token", body="grant_type=client_credentials",
                             headers={"Authorization": auth, "Content-Type": "application/x-www-form-urlencoded"})
            res = conn.getresponse()
            res.read()
            status = res.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(host, int(port), timeout=10)
            status = 0
        elapsed = (time.perf_counter() - began) * 1000
        if status == 200:
            results[kind].append(elapsed)
        else:
            results["errors"][f"{kind} {status}"] = results["errors"].get(f"{kind} {status}", 0) + 1
        time.sleep(0.01)


threads = [threading.Thread(target=loop, args=(k,)) for k in ("jwks", "client_credentials")]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results))
