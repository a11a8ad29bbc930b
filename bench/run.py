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
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "gatehouse")
TICK = os.sysconf("SC_CLK_TCK")
PG_BASE = os.environ.get("GATEHOUSE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early ({proc.returncode}) while waiting for {url}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {seconds}s")


def cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def form_post(url, body, auth=None):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


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


class Gatehouse:
    def __init__(self, backend):
        self.name = f"gatehouse-{backend}"
        self.dir = tempfile.mkdtemp(prefix="gatehouse-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        if backend == "sqlite":
            self.db = f"sqlite://{self.dir}/gatehouse.db"
        else:
            name = f"gatehouse_bench_{os.getpid()}"
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}")
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"CREATE DATABASE {name}")
            self.db = f"{PG_BASE}/{name}"
            self.pg_name = name
        self.env = dict(os.environ, GATEHOUSE_DATABASE_URL=self.db, GATEHOUSE_KEYS_DIR=f"{self.dir}/keys", GATEHOUSE_LOG="warn")

    def cli(self, *args):
        return json.loads(sh(BIN, "--json", *args, env=self.env, cwd=self.dir))

    def start(self):
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}"], env=self.env, cwd=self.dir,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.base + "/readyz", self.proc)
        partner = self.cli("partner", "add", "--name", "Bench")["id"]
        self.apps = {}
        for key, fmt, alg in [("rs256", "jwt", "RS256"), ("es256", "jwt", "ES256"), ("opaque", "opaque", "RS256")]:
            created = self.cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", f"bench {key}")
            cid, secret = created["app"]["client_id"], created["client_secret"]["secret"]
            self.cli("app", "set", cid, "--token-format", fmt, "--signing-alg", alg)
            self.apps[key] = basic(cid, secret)
        token = form_post(self.base + "/token", "grant_type=client_credentials", self.apps["opaque"])["access_token"]
        return {
            "cc_rs256": ("/token", "grant_type=client_credentials", self.apps["rs256"]),
            "cc_es256": ("/token", "grant_type=client_credentials", self.apps["es256"]),
            "cc_opaque": ("/token", "grant_type=client_credentials", self.apps["opaque"]),
            "introspect": ("/introspect", f"token={token}", self.apps["opaque"]),
            "jwks": ("/jwks", None, None),
        }

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        if hasattr(self, "pg_name"):
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


class Peer:
    name = "oidc-provider"

    def start(self):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["node", os.path.join(ROOT, "bench", "peer", "server.js"), str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.base + "/.well-known/openid-configuration", self.proc)
        auth = basic("bench", "bench-secret-bench-secret-bench-secret")
        cc = "grant_type=client_credentials&scope=api&resource="
        token = form_post(self.base + "/token", cc + "https%3A%2F%2Fopaque.example", auth)["access_token"]
        return {
            "cc_rs256": ("/token", cc + "https%3A%2F%2Frs256.example", auth),
            "cc_es256": ("/token", cc + "https%3A%2F%2Fes256.example", auth),
            "cc_opaque": ("/token", cc + "https%3A%2F%2Fopaque.example", auth),
            "introspect": ("/token/introspection", f"token={token}", auth),
            "jwks": ("/jwks", None, None),
        }

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


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
    sh("cargo", "build", "--quiet", "--release", "--bin", "gatehouse", cwd=ROOT)
    if not args.no_peer and not os.path.isdir(os.path.join(ROOT, "bench", "peer", "node_modules")):
        sh("npm", "ci", "--no-audit", "--no-fund", cwd=os.path.join(ROOT, "bench", "peer"))
    floor = signing_floor()
    servers = [Gatehouse(b) for b in args.backends.split(",") if b]
    if not args.no_peer:
        servers.append(Peer())
    concurrency = [int(c) for c in args.concurrency.split(",")]
    scenarios = args.scenarios.split(",")
    results = {}
    for server in servers:
        plan = server.start()
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
