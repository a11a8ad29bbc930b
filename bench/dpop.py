#!/usr/bin/env python3
"""DPoP benchmark (issue 22): RS256 client_credentials on Gatehouse (release build, SQLite and
PostgreSQL), plain and DPoP-bound (a fresh ES256 proof per request, RFC 9449), alternating in
one run, medians of the repeats. wrk cannot sign proofs, so the load comes from
examples/dpop_load.rs (reqwest, keep-alive, one task per concurrent client).

Reports requests/s, p50/p99, server CPU per request (/proc), the client's signing time per
proof, and the difference DPoP makes. Writes bench/dpop-results.md.

    python3 bench/dpop.py                         # 8 s runs, 3 repeats, concurrency 1 and 16
    python3 bench/dpop.py --duration 3 --repeats 1 --backends sqlite
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import ROOT, TICK, Gatehouse, cpu_ticks, ensure_release_build, sh, wait_for_builds  # noqa: E402

LOAD = os.path.join(ROOT, "target", "release", "examples", "dpop_load")


def seed(server):
    """A server-to-server app issuing RS256 JWT access tokens; its client ID and secret."""
    partner = server.cli("partner", "add", "--name", "Bench")["id"]
    created = server.cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", "bench dpop")
    cid, secret = created["app"]["client_id"], created["client_secret"]["secret"]
    server.cli("app", "set", cid, "--token-format", "jwt", "--signing-alg", "RS256")
    return cid, secret


def run_load(server, cid, secret, concurrency, duration, mode):
    before = cpu_ticks(server.proc.pid)
    out = subprocess.run([LOAD, server.base, cid, secret, str(concurrency), str(duration), mode],
                         check=True, text=True, capture_output=True, timeout=duration + 60).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["cpu_ms_per_req"] = (cpu_ticks(server.proc.pid) - before) * 1000 / TICK / max(result["requests"], 1)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "dpop-results.md"))
    args = ap.parse_args()
    wait_for_builds()
    ensure_release_build()
    sh("cargo", "build", "--quiet", "--release", "--example", "dpop_load", cwd=ROOT)
    rows = []
    for backend in args.backends.split(","):
        server = Gatehouse(backend).start()
        try:
            cid, secret = seed(server)
            for c in [int(x) for x in args.concurrency.split(",")]:
                runs = {"plain": [], "dpop": []}
                run_load(server, cid, secret, c, 2, "dpop")  # warm-up: connections, caches, key
                for _ in range(args.repeats):
                    for mode in ("plain", "dpop"):
                        runs[mode].append(run_load(server, cid, secret, c, args.duration, mode))
                        time.sleep(1)
                for mode, results in runs.items():
                    med = {k: statistics.median(r[k] for r in results) for k in ("rps", "p50", "p99", "cpu_ms_per_req", "client_sign_us")}
                    med["errors"] = sum(r["errors"] for r in results)
                    rows.append((server.name, c, mode, med))
                    print(f"{server.name} c={c} {mode}: {med}", flush=True)
        finally:
            server.stop()
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; RS256 client_credentials; {args.duration} s runs, "
        f"median of {args.repeats}, plain and DPoP alternating; load from examples/dpop_load.rs on the same 2 cores.",
        "",
        "| server | conc. | mode | req/s | p50 ms | p99 ms | server CPU ms/req | client signing µs/proof | errors | DPoP vs plain (req/s) |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, c, mode, m in rows:
        plain = next(r[3] for r in rows if r[0] == name and r[1] == c and r[2] == "plain")
        ratio = f"{m['rps'] / plain['rps']:.2f}×" if mode == "dpop" else ""
        lines.append(f"| {name} | {c} | {mode} | {m['rps']:.0f} | {m['p50']:.2f} | {m['p99']:.2f} | "
                     f"{m['cpu_ms_per_req']:.3f} | {m['client_sign_us']:.0f} | {m['errors']} | {ratio} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
