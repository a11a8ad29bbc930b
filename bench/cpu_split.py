#!/usr/bin/env python3
"""Where the two cores go during one wrk run of a scenario: the server's CPU, PostgreSQL's (all
its processes), wrk's, and the machine's idle time, each per request; with --perf, a `perf
record` of the server for 4 s of it (DWARF call graphs) for `perf report`.

    python3 bench/cpu_split.py postgres introspect 16
    python3 bench/cpu_split.py peer introspect 16
    python3 bench/cpu_split.py sqlite cc_opaque 64 --perf bench-perf.data

GATEHOUSE_BENCH_BIN picks another build, as for bench/run.py."""

import argparse
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
from common import TICK, Gatehouse, Peer, cpu_ticks, ensure_release_build, peak_rss_mib, postgres_ticks, ticks_of  # noqa: E402


def machine_ticks():
    """(busy, idle) clock ticks of all CPUs (/proc/stat; idle includes iowait)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4], fields[3] + fields[4]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("server", choices=["sqlite", "postgres", "peer"])
    ap.add_argument("scenario", choices=["introspect", "cc_opaque", "cc_rs256", "cc_es256", "jwks"])
    ap.add_argument("concurrency", type=int)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--perf", metavar="FILE", help="record the server with perf into FILE")
    args = ap.parse_args()
    if args.server == "peer":
        server = Peer().start()
        plan = run.peer_plan(server)
    else:
        ensure_release_build()
        server = Gatehouse(args.server).start()
        plan = run.gatehouse_plan(server)
    try:
        path, body, auth = plan[args.scenario]
        url, pid = server.base + path, server.proc.pid
        run.wrk(url, args.concurrency, 2, body, auth, pid)  # warm-up
        # wrk's ticks are read while it runs: a process that has exited has none to read.
        last_wrk, done = [0], threading.Event()

        def watch_wrk():
            while not done.is_set():
                last_wrk[0] = ticks_of("wrk") or last_wrk[0]
                time.sleep(0.1)

        watcher = threading.Thread(target=watch_wrk)
        watcher.start()
        busy0, idle0 = machine_ticks()
        server0, pg0 = cpu_ticks(pid), postgres_ticks()
        recorder = None
        if args.perf:
            recorder = subprocess.Popen(
                ["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", args.perf, "-p", str(pid), "--", "sleep", "4"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = run.wrk(url, args.concurrency, args.duration, body, auth, pid)
        busy1, idle1 = machine_ticks()
        server1, pg1 = cpu_ticks(pid), postgres_ticks()
        done.set()
        watcher.join()
        if recorder:
            recorder.wait()
        requests = result["rps"] * args.duration

        def per_request(ticks):
            return ticks * 1000 / TICK / requests

        print(f"{args.server} {args.scenario} c={args.concurrency}: {result['rps']:.0f} req/s, "
              f"p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms, errors {result['errors']}")
        print(f"  ms per request: server {per_request(server1 - server0):.4f}, postgres {per_request(pg1 - pg0):.4f}, "
              f"wrk {per_request(last_wrk[0]):.4f}, all busy {per_request(busy1 - busy0):.4f}, "
              f"idle {per_request(idle1 - idle0):.4f} ({(idle1 - idle0) / (busy1 - busy0 + idle1 - idle0):.1%} of the cores)")
        print(f"  server peak RSS {peak_rss_mib(pid):.1f} MiB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
