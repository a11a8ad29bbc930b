#!/usr/bin/env python3
"""Load benchmark: Gatehouse (release build, SQLite and PostgreSQL) against panva's
oidc-provider doing the same work, in one run on loopback, driven by wrk.

For each server, scenario and concurrency it reports requests/s, p50/p99 latency, server CPU
milliseconds per request (from /proc), errors, and the server's peak RSS; and the in-process
signing cost per token (the floor). Every run is bounded by --duration.

    python3 bench/run.py                      # 10 s runs, 3 repeats, concurrency 1, 16, 64
    python3 bench/run.py --duration 3 --repeats 1 --backends sqlite
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (ROOT, TICK, Gatehouse, Peer, basic, cpu_ticks, ensure_peer, ensure_release_build,  # noqa: E402
                    form_post, peak_rss_mib, sh, wait_for_builds)


def parse_latency(text, label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def wrk(url, concurrency, duration, body=None, auth=None, pid=None):
    env = dict(os.environ, BENCH_BODY=body or "", BENCH_AUTH=auth or "")
    cmd = ["wrk", f"-t{min(concurrency, 2)}", f"-c{concurrency}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if body is not None:
        cmd += ["-s", os.path.join(ROOT, "bench", "post.lua")]
    before = cpu_ticks(pid)
    out = subprocess.run(cmd + [url], check=True, text=True, capture_output=True, env=env, timeout=duration + 30).stdout
    cpu_ms = (cpu_ticks(pid) - before) * 1000 / TICK
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": parse_latency(out, "50"),
        "p99": parse_latency(out, "99"),
        "cpu_ms_per_req": cpu_ms / max(requests, 1),
        "errors": errors,
    }


def gatehouse_plan(server):
    """Seeds a started Gatehouse with three server-to-server apps; returns the scenarios."""
    partner = server.cli("partner", "add", "--name", "Bench")["id"]
    apps = {}
    for key, fmt, alg in [("rs256", "jwt", "RS256"), ("es256", "jwt", "ES256"), ("opaque", "opaque", "RS256")]:
        created = server.cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", f"bench {key}")
        cid, secret = created["app"]["client_id"], created["client_secret"]["secret"]
        server.cli("app", "set", cid, "--token-format", fmt, "--signing-alg", alg)
        apps[key] = basic(cid, secret)
    token = form_post(server.base + "/token", "grant_type=client_credentials", apps["opaque"])["access_token"]
    return {
        "cc_rs256": ("/token", "grant_type=client_credentials", apps["rs256"]),
        "cc_es256": ("/token", "grant_type=client_credentials", apps["es256"]),
        "cc_opaque": ("/token", "grant_type=client_credentials", apps["opaque"]),
        "introspect": ("/introspect", f"token={token}", apps["opaque"]),
        "jwks": ("/jwks", None, None),
    }


def peer_plan(server):
    """The peer's client `bench` (bench/peer/server.js) for the same scenarios."""
    auth = basic("bench", "bench-secret-bench-secret-bench-secret")
    cc = "grant_type=client_credentials&scope=api&resource="
    token = form_post(server.base + "/token", cc + "https%3A%2F%2Fopaque.example", auth)["access_token"]
    return {
        "cc_rs256": ("/token", cc + "https%3A%2F%2Frs256.example", auth),
        "cc_es256": ("/token", cc + "https%3A%2F%2Fes256.example", auth),
        "cc_opaque": ("/token", cc + "https%3A%2F%2Fopaque.example", auth),
        "introspect": ("/token/introspection", f"token={token}", auth),
        "jwks": ("/jwks", None, None),
    }


def signing_floor():
    out = sh("cargo", "run", "--quiet", "--release", "--example", "sign_floor", cwd=ROOT)
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", default="1,16,64")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--scenarios", default="cc_rs256,cc_es256,cc_opaque,introspect,jwks")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results.md"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    ensure_release_build()
    if not args.no_peer:
        ensure_peer()
    wait_for_builds()
    floor = signing_floor()
    servers = [Gatehouse(b) for b in args.backends.split(",") if b]
    if not args.no_peer:
        servers.append(Peer())
    concurrency = [int(c) for c in args.concurrency.split(",")]
    scenarios = args.scenarios.split(",")
    results = {}
    for server in servers:
        server.start()
        plan = peer_plan(server) if isinstance(server, Peer) else gatehouse_plan(server)
        try:
            for scenario in scenarios:
                path, body, auth = plan[scenario]
                for c in concurrency:
                    runs = [wrk(server.base + path, c, args.duration, body, auth, server.proc.pid) for _ in range(args.repeats)]
                    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                    results[(server.name, scenario, c)] = med
                    print(f"{server.name:20} {scenario:11} c={c:<3} {med['rps']:9.0f} req/s  p50 {med['p50']:7.2f} ms  "
                          f"p99 {med['p99']:7.2f} ms  cpu {med['cpu_ms_per_req']:.3f} ms/req  errors {med['errors']:.0f}", flush=True)
            results[(server.name, "rss")] = peak_rss_mib(server.proc.pid)
        finally:
            server.stop()
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores shared by server and wrk, "
        f"{args.duration} s runs, median of {args.repeats}.",
        "",
        f"Signing floor (in-process, cached keys): RS256 {floor['rs256_ms']:.3f} ms/token, ES256 {floor['es256_ms']:.3f} ms/token.",
        "",
        "| server | scenario | conc. | req/s | p50 ms | p99 ms | CPU ms/req | errors | vs peer (req/s) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for (name, *rest), r in results.items():
        if len(rest) != 2:
            continue
        scenario, c = rest
        peer = results.get(("oidc-provider", scenario, c))
        ratio = f"{r['rps'] / peer['rps']:.2f}×" if peer and name != "oidc-provider" and peer["rps"] else ""
        lines.append(f"| {name} | {scenario} | {c} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['cpu_ms_per_req']:.3f} | {r['errors']:.0f} | {ratio} |")
    lines += ["", "Peak RSS: " + ", ".join(f"{s.name} {results[(s.name, 'rss')]:.0f} MiB" for s in servers)]
    report = "\n".join(lines) + "\n"
    with open(args.out, "w") as f:
        f.write(report)
    print("\n" + report)


if __name__ == "__main__":
    sys.exit(main())
