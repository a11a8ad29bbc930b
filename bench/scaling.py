#!/usr/bin/env python3
"""Scaling: one Gatehouse instance against two on the same PostgreSQL database (the same keys,
as behind a load balancer), for client_credentials (RS256 JWT) and introspection of an opaque
token. Two instances are driven round-robin by the load generator itself: two wrk processes,
each with half the connections, one per instance (a proxy in between would measure the proxy).
Reports requests/s summed over the instances, p99, and CPU per request of the Gatehouse
processes and of PostgreSQL's backends.

    python3 bench/scaling.py --duration 10 --repeats 3 --concurrency 64
"""

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BIN, TICK, Gatehouse, cpu_ticks, ensure_release_build, free_port, postgres_ticks,  # noqa: E402
                    spawn_gatehouse, wait_for_builds, wait_ready)
from run import gatehouse_plan, wrk  # noqa: E402


def second_instance(first):
    """Another process on the first one's database and keys folder."""
    port = free_port()
    proc = spawn_gatehouse(BIN, first.env, port, cwd=first.dir)
    wait_ready(f"http://127.0.0.1:{port}/readyz", proc)
    return proc, f"http://127.0.0.1:{port}"


def measure(bases, pids, path, body, auth, concurrency, duration):
    """wrk against each base at once, concurrency split evenly; summed req/s, worst p99."""
    share = concurrency // len(bases)
    results = [None] * len(bases)
    before = sum(cpu_ticks(p) for p in pids)
    pg_before = postgres_ticks()

    def one(i):
        results[i] = wrk(bases[i] + path, share, duration, body, auth, pids[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bases))]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 60)
    elapsed = time.time() - started
    requests = sum(r["rps"] for r in results) * duration
    cpu_ms = (sum(cpu_ticks(p) for p in pids) - before) * 1000 / TICK
    pg_ms = (postgres_ticks() - pg_before) * 1000 / TICK
    return {
        "rps": sum(r["rps"] for r in results),
        "p99": max(r["p99"] for r in results),
        "cpu_ms_per_req": cpu_ms / max(requests, 1),
        "pg_ms_per_req": pg_ms / max(requests, 1),
        "errors": sum(r["errors"] for r in results),
        "elapsed": elapsed,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "scaling-results.md"))
    args = ap.parse_args()
    ensure_release_build()
    wait_for_builds()
    first = Gatehouse("postgres").start()
    second = None
    try:
        plan = gatehouse_plan(first)
        second, second_base = second_instance(first)
        rows = []
        for scenario in ("cc_rs256", "introspect"):
            path, body, auth = plan[scenario]
            for label, bases, pids in (
                ("one instance", [first.base], [first.proc.pid]),
                ("two instances", [first.base, second_base], [first.proc.pid, second.pid]),
            ):
                runs = [measure(bases, pids, path, body, auth, args.concurrency, args.duration) for _ in range(args.repeats)]
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                rows.append((scenario, label, med))
                print(f"{scenario:11} {label:14} {med['rps']:8.0f} req/s  p99 {med['p99']:6.2f} ms  "
                      f"gatehouse {med['cpu_ms_per_req']:.3f} ms/req  postgres {med['pg_ms_per_req']:.3f} ms/req", flush=True)
    finally:
        if second is not None:
            second.terminate()
            second.wait(timeout=30)
        first.stop()
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores shared by the instances, "
        f"PostgreSQL and wrk; concurrency {args.concurrency} in total; {args.duration} s runs, median of {args.repeats}.",
        "",
        "| scenario | instances | req/s | p99 ms | Gatehouse CPU ms/req | PostgreSQL CPU ms/req | errors |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for scenario, label, r in rows:
        lines.append(f"| {scenario} | {label} | {r['rps']:.0f} | {r['p99']:.2f} | {r['cpu_ms_per_req']:.3f} | "
                     f"{r['pg_ms_per_req']:.3f} | {r['errors']:.0f} |")
    report = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(report)
    print("\n" + report)


if __name__ == "__main__":
    sys.exit(main())
