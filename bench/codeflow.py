#!/usr/bin/env python3
"""Code-flow benchmark: authorization-code round trips of signed-in users (GET authorize with
PKCE S256, state and nonce -> the redirect's code, read from Location, never fetched -> POST
token with client_secret_basic and the code_verifier -> an ID token and a refresh token), and
the same with the login step included (a fresh cookie jar each time, so every round trip signs
in with email and password first). N concurrent users, each with its own cookie jar and
keep-alive connection, against Gatehouse on SQLite and PostgreSQL and panva's oidc-provider
9.13.3 (bench/peer/server.js, its development interactions), alternating within each repeat.

    python3 bench/codeflow.py --duration 10 --repeats 3 --concurrency 1,8 --backends sqlite,postgres
    python3 bench/codeflow.py --statements     # SQL statements and fsyncs per request, no load
    python3 bench/codeflow.py --variants signed-in --alg ES256 --out /tmp/codeflow-es256.md

It first waits for a quiet machine (no build, and no browser or node process of others using
CPU, for 60 s; at most 25 minutes; --no-wait skips it). It reports round trips per second, p50/p99 latency of a round trip, server CPU per round trip
(/proc/<pid>/stat; for PostgreSQL also the CPU of the postgres processes), the load
generator's own CPU, errors, peak RSS, and the ratio to the peer; writes
bench/codeflow-results.md.
"""

import argparse
import base64
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REDIRECT = "https://rp.example/cb"
PASSWORD = "a long enough passphrase"
# src/tenants/password.rs: what a Gatehouse login costs (the peer's dev login hashes nothing).
ARGON2 = "Argon2id v19, m=19456 KiB, t=2, p=1 (OWASP)"


def pkce():
    verifier = common.b64url(os.urandom(32))
    return verifier, common.pkce_challenge(verifier)


def nonce():
    return base64.urlsafe_b64encode(os.urandom(12)).decode()


class Target:
    """One server and its code-flow client; subclasses know its paths and sign-in pages."""

    name = "?"
    sign_ins = 0  # sign-ins again before a run, because the server had forgotten the session
    authorize = "/authorize"
    token = "/token"

    def authorize_request(self):
        verifier, challenge = pkce()
        state = nonce()
        path = self.authorize + "?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT, "scope": "openid",
            "state": state, "nonce": nonce(), "code_challenge": challenge, "code_challenge_method": "S256"})
        return path, state, verifier

    def redeem(self, c, location, state, verifier):
        """The code from the redirect, exchanged; raises unless the answer carries an ID token and
        a refresh token."""
        query = urllib.parse.parse_qs(location.split("?", 1)[1])
        if query.get("state") != [state] or "code" not in query:
            raise RuntimeError(f"redirect without code or with another state: {location[:200]}")
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": query["code"][0],
                                       "redirect_uri": REDIRECT, "code_verifier": verifier})
        status, _, answer = c.request("POST", self.token, body, self.auth_header)
        if status != 200:
            raise RuntimeError(f"token endpoint answered {status}: {answer[:300]!r}")
        tokens = json.loads(answer)
        if not (tokens.get("id_token") and tokens.get("refresh_token") and tokens.get("access_token")):
            raise RuntimeError(f"token response lacks a token: {sorted(tokens)}")

    def signed_in(self, c, user):
        """One round trip for a user whose session cookie is in `c`."""
        path, state, verifier = self.authorize_request()
        status, headers, body = c.request("GET", path)
        location = headers.get("location", "")
        if status not in (302, 303) or not location.startswith(REDIRECT):
            raise RuntimeError(f"authorize answered {status} to {location[:120]!r} (not signed in?) {body[:200]!r}")
        self.redeem(c, location, state, verifier)

    def with_login(self, c, user):
        """One round trip that signs in first, with an empty cookie jar."""
        c.cookies.clear()
        path, state, verifier = self.authorize_request()
        location = self.login(c, path, user, steps=("login",))
        self.redeem(c, location, state, verifier)

    def ensure_session(self, user):
        """Before a timed run: one untimed round trip with the user's cookies, and a new sign-in
        if the server forgot the session (the peer's development store keeps only its last 1000
        entries, so a user idle for a few thousand round trips of others is signed out)."""
        c = common.Http(self.port)
        c.cookies.update(self.jars[user])
        try:
            self.signed_in(c, user)
        except RuntimeError:
            self.jars[user] = self.first_sign_in(user)
            self.sign_ins += 1
        finally:
            c.close()

    def first_sign_in(self, user):
        """Signs `user` in (consent and approval given on the way); returns the cookie jar."""
        c = common.Http(self.port)
        path, state, verifier = self.authorize_request()
        location = self.login(c, path, user, steps=("login", "approve", "consent"))
        self.redeem(c, location, state, verifier)
        c.close()
        return dict(c.cookies)


class GatehouseTarget(Target):
    def __init__(self, backend, users, alg="RS256", **kw):
        self.server = common.Gatehouse(backend, **kw)
        self.name = self.server.name
        self.users = users
        self.alg = alg

    def start(self):
        s = self.server.start()
        self.port, self.proc = s.port, s.proc
        partner = s.cli("partner", "add", "--name", "Bench")["id"]
        s.cli("tenant", "add", "--ctx", "Bench1", "--name", "Bench", "--partner", partner, "--mfa", "off")
        for i in range(self.users):
            # The first user administers the tenant and approves the app on their first sign-in.
            admin = ["--admin"] if i == 0 else []
            s.cli("user", "add", "--email", self.email(i), "--tenant", "Bench1", *admin, "--password-stdin",
                  stdin=PASSWORD + "\n")
        app = s.cli("app", "create", "--partner", partner, "--template", "web", "--name", "Bench web",
                    "--redirect-uri", REDIRECT)
        self.client_id = app["app"]["client_id"]
        if self.alg != "RS256":  # the ID token and the access token
            s.cli("app", "set", self.client_id, "--signing-alg", self.alg)
        self.auth_header = f"Authorization: {common.basic(self.client_id, app['client_secret']['secret'])}\r\n"
        self.jars = [self.first_sign_in(i) for i in range(self.users)]

    @staticmethod
    def email(i):
        return f"bench{i}@example.com"

    def login(self, c, path, user, steps):
        return common.gatehouse_sign_in(c, path, self.email(user), PASSWORD, REDIRECT, steps)

    def stop(self):
        self.server.stop()


class PeerTarget(Target):
    name = "oidc-provider"
    authorize = "/auth"

    def __init__(self, users, alg="RS256"):
        self.server = common.Peer()
        self.users = users
        self.client_id = "code" if alg == "RS256" else "code-es256"
        self.auth_header = f"Authorization: {common.basic(self.client_id, 'code-secret-code-secret-code-secret-code')}\r\n"

    def start(self):
        s = self.server.start()
        self.port, self.proc = s.port, s.proc
        self.jars = [self.first_sign_in(i) for i in range(self.users)]

    def login(self, c, path, user, steps):
        """oidc-provider's development interactions: the login page takes any name (no password
        is checked); consent is never asked (server.js `loadExistingGrant`)."""
        status, headers, body = c.request("GET", path)
        for _ in range(8):
            location = headers.get("location")
            if location:
                if location.startswith(REDIRECT):
                    return location
                status, headers, body = c.request("GET", c.path_of(location))
                continue
            html = body.decode()
            prompt = common.hidden(html, "prompt")
            if status != 200 or prompt not in steps:
                raise RuntimeError(f"unexpected interaction page {status} {prompt}: {html[:200]!r}")
            action = c.path_of(re.search(r'<form[^>]* action="([^"]+)"', html).group(1))
            form = {"prompt": "login", "login": f"user{user}", "password": PASSWORD}
            status, headers, body = c.request("POST", action, urllib.parse.urlencode(form))
        raise RuntimeError("sign-in did not finish")

    def stop(self):
        self.server.stop()


def measure(target, variant, concurrency, duration, warmup=1.0):
    """Runs `concurrency` users in threads for warmup + duration seconds; counts the round
    trips that end inside the measured window."""
    stop = threading.Event()
    records = [[] for _ in range(concurrency)]  # (end time, seconds, ok)
    step = target.signed_in if variant == "signed-in" else target.with_login
    if variant == "signed-in":
        for i in range(concurrency):
            target.ensure_session(i)

    def user_loop(i):
        c = common.Http(target.port)
        c.cookies.update(target.jars[i])
        out = records[i]
        clock = time.perf_counter
        while not stop.is_set():
            t = clock()
            try:
                step(c, i)
                ok = True
            except Exception as e:  # counted as an error; the connection starts over
                ok = False
                c.close()
                if variant == "signed-in":
                    c.cookies.clear()
                    c.cookies.update(target.jars[i])
                if not any(not r[2] for r in out):  # the first error of each user in a run
                    print(f"  {target.name} {variant} user {i}: {e}", file=sys.stderr, flush=True)
            end = clock()
            out.append((end, end - t, ok))
        c.close()

    threads = [threading.Thread(target=user_loop, args=(i,), daemon=True) for i in range(concurrency)]
    for t in threads:
        t.start()
    time.sleep(warmup)
    pg = target.name.endswith("postgres")
    all0, db0 = common.machine_busy_ticks(), common.postgres_ticks()
    t0, cpu0, me0 = time.perf_counter(), common.cpu_ticks(target.proc.pid), resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(duration)
    t1, cpu1, me1 = time.perf_counter(), common.cpu_ticks(target.proc.pid), resource.getrusage(resource.RUSAGE_SELF)
    all1, db1 = common.machine_busy_ticks(), common.postgres_ticks()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    inside = [r for rs in records for r in rs if t0 <= r[0] < t1]
    ok = sorted(r[1] for r in inside if r[2])
    n = max(len(ok), 1)
    elapsed = t1 - t0
    client_cpu = (me1.ru_utime - me0.ru_utime) + (me1.ru_stime - me0.ru_stime)
    # Whatever else ran on the machine meanwhile (other sessions, the idle servers, the kernel).
    others = (all1 - all0 - (cpu1 - cpu0) - (db1 - db0)) / common.TICK - client_cpu
    return {
        "rps": len(ok) / elapsed,
        "p50": common.percentile(ok, 50, rank="floor") * 1000,
        "p99": common.percentile(ok, 99, rank="floor") * 1000,
        "cpu": (cpu1 - cpu0) * 1000 / common.TICK / n,
        "db_cpu": (db1 - db0) * 1000 / common.TICK / n if pg else float("nan"),
        "client_cpu": client_cpu * 1000 / n,
        "client_share": client_cpu / (elapsed * os.cpu_count()),
        "errors": sum(1 for r in inside if not r[2]),
        "others_share": max(others, 0.0) / (elapsed * os.cpu_count()),
    }


def fmt(v, digits=2):
    return "–" if v != v else f"{v:.{digits}f}"


def report(args, results, rss, quiet, targets):
    waited_ok, waited, load = quiet
    others = [r["others_share"] for runs in results.values() for r in runs]
    lines = [
        f"Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {os.cpu_count()} cores shared by the servers, "
        f"PostgreSQL and the load generator; {args.duration} s per run after 1 s of warm-up; median of "
        f"{args.repeats} repeats, the servers alternating within each repeat; errors summed over the repeats. "
        f"`rt` = round trip; `users` = concurrent users; client share = the load generator's CPU over the "
        f"run as a share of all {os.cpu_count()} cores.",
        "",
        f"Machine before the run: {'quiet' if waited_ok else 'NOT quiet (gave up waiting)'} after {waited:.0f} s of "
        f"waiting (no build, and no browser or node process of others using CPU, for 60 s); load average "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min). CPU used by anything else during the "
        f"measured windows: median {statistics.median(others) * 100:.1f}%, at most {max(others) * 100:.1f}% of the machine.",
        "",
        f"Gatehouse: release build of {args.source}. ID tokens and access tokens signed with {args.alg} by every server. Gatehouse's login verifies the "
        f"password with {ARGON2}; the peer's development login checks no password.",
        "",
        "| server | variant | users | round trips/s | p50 ms | p99 ms | server CPU ms/rt | PostgreSQL CPU ms/rt "
        "| client CPU ms/rt | client share of machine | errors | vs peer |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for variant in ("signed-in", "with login"):
        for c in args.concurrency:
            for t in targets:
                runs = results.get((t.name, variant, c))
                if not runs:
                    continue
                med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                errors = sum(r["errors"] for r in runs)
                peer = results.get(("oidc-provider", variant, c))
                ratio = ""
                if peer and t.name != "oidc-provider":
                    peer_rps = statistics.median(r["rps"] for r in peer)
                    ratio = f"{med['rps'] / peer_rps:.2f}×" if peer_rps else ""
                lines.append(f"| {t.name} | {variant} | {c} | {med['rps']:.0f} | {fmt(med['p50'])} | {fmt(med['p99'])} | "
                             f"{fmt(med['cpu'], 3)} | {fmt(med['db_cpu'], 3)} | {fmt(med['client_cpu'], 3)} | "
                             f"{med['client_share'] * 100:.0f}% | {errors} | {ratio} |")
    again = [f"{t.name} {t.sign_ins}" for t in targets if t.sign_ins]
    if again:
        lines += ["", "Users signed in again (untimed) before a signed-in run because the server had forgotten "
                  "their session: " + ", ".join(again) + "."]
    for variant, peaks in rss.items():
        lines += ["", f"Peak RSS (VmHWM) by the end of the {variant} runs: " +
                  ", ".join(f"{name} {mib:.0f} MiB" for name, mib in peaks.items())]
    return "\n".join(lines) + "\n"


# --- SQL statements and fsyncs per request ------------------------------------------------

STATEMENT = re.compile(r'sqlx::query: summary=.*? db\.statement="(.*?)" rows_affected')


def describe(sql):
    """`SELECT sessions`, `INSERT authorization_codes`…: the verb and the first table."""
    sql = " ".join(sql.replace("\\n", " ").split())
    verb = sql.split(" ", 1)[0].upper()
    m = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", sql, re.I)
    return f"{verb} {m.group(1) if m else '?'}"


def statements(args):
    """Counts, on each Gatehouse backend, the SQL statements each request of a round trip runs
    (sqlx's debug log) and, on SQLite, the fsync/fdatasync calls (strace)."""
    out = []
    for backend in args.backends:
        log_path = f"/tmp/gatehouse-codeflow-{backend}-{os.getpid()}.log"
        with open(log_path, "w") as log:
            target = GatehouseTarget(backend, 1, log="warn,sqlx::query=debug", output=log)
            target.start()
        try:
            counts = {}

            class Counting(common.Http):
                def request(self, method, path, body=None, headers=""):
                    before = os.path.getsize(log_path)
                    answer = super().request(method, path, body, headers)
                    time.sleep(0.05)  # let the log reach the file
                    with open(log_path, errors="replace") as f:
                        f.seek(before)
                        text = re.sub(r"\x1b\[[0-9;]*m", "", f.read())  # the log's colours
                        found = [describe(sql) for sql in STATEMENT.findall(text)]
                    key = (self.variant, method, path.split("?")[0], answer[0])
                    counts.setdefault(key, []).append(found)
                    return answer

            rounds = 5
            for variant, step in (("signed-in", target.signed_in), ("with login", target.with_login)):
                c = Counting(target.port)
                c.variant = variant
                for _ in range(rounds):
                    c.cookies.clear()
                    c.cookies.update(target.jars[0])
                    step(c, 0)
            out.append(f"### Gatehouse on {backend}: SQL statements per request (sqlx debug log, {rounds} round trips)")
            out.append("")
            out.append("| variant | request | status | statements | of which writes | which (the last round trip) |")
            out.append("|---|---|--:|--:|--:|---|")
            totals = {}
            for (variant, method, path, status), seen in counts.items():
                per = sum(len(f) for f in seen) / rounds
                writes = sum(1 for f in seen for d in f if not d.startswith("SELECT")) / rounds
                total = totals.setdefault(variant, [0, 0])
                total[0] += per
                total[1] += writes
                out.append(f"| {variant} | {method} {path} | {status} | {per:.1f} | {writes:.1f} | {', '.join(seen[-1])} |")
            for variant, (total, writes) in totals.items():
                out.append(f"| {variant} | **round trip** | | **{total:.1f}** | **{writes:.1f}** | |")
            out.append("")
            if backend == "sqlite":
                out.append(fsyncs(target))
        finally:
            target.stop()
            os.unlink(log_path)
    text = "\n".join(out) + "\n"
    print(text)
    return text


def fsyncs(target, rounds=20):
    """fsync + fdatasync calls of the server per signed-in round trip (strace -c)."""
    lines = []
    for variant, step in (("signed-in", target.signed_in), ("with login", target.with_login)):
        summary = f"/tmp/codeflow-strace-{os.getpid()}.txt"
        tracer = subprocess.Popen(["strace", "-f", "-c", "-o", summary, "-e", "trace=fsync,fdatasync", "-p",
                                   str(target.proc.pid)], stderr=subprocess.DEVNULL)
        time.sleep(1)
        c = common.Http(target.port)
        for _ in range(rounds):
            c.cookies.clear()
            c.cookies.update(target.jars[0])
            step(c, 0)
        c.close()
        time.sleep(0.5)
        tracer.send_signal(2)
        tracer.wait(timeout=30)
        calls = 0
        for line in open(summary):
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)$", line)
            if m:
                calls += int(m.group(1))
        os.unlink(summary)
        lines.append(f"SQLite, {variant}: {calls / rounds:.1f} fsync/fdatasync calls per round trip (strace, {rounds} round trips).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--concurrency", default="1,8")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--variants", default="signed-in,with login")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--alg", default="RS256", choices=["RS256", "ES256"],
                    help="signature of the ID token and the access token (the issue's figures: RS256)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine first")
    ap.add_argument("--statements", action="store_true", help="count SQL statements and fsyncs per request, no load")
    ap.add_argument("--out", default=os.path.join(common.ROOT, "bench", "codeflow-results.md"))
    args = ap.parse_args()
    args.concurrency = [int(c) for c in args.concurrency.split(",")]
    args.backends = [b for b in args.backends.split(",") if b]
    variants = [v.strip() for v in args.variants.split(",")]
    if args.backends:
        common.ensure_release_build()
    args.source = common.source_version()
    if args.statements:
        statements(args)
        return
    if args.no_wait:
        quiet = (True, 0.0, os.getloadavg())
    else:
        quiet = common.wait_quiet()
        print(f"machine {'quiet' if quiet[0] else 'not quiet'} after {quiet[1]:.0f} s; load {quiet[2]}", flush=True)
    users = max(args.concurrency)
    targets = [GatehouseTarget(b, users, args.alg) for b in args.backends]
    if not args.no_peer:
        targets.append(PeerTarget(users, args.alg))
    started = []
    results, rss = {}, {}
    try:
        for t in targets:
            t.start()
            started.append(t)
        # Variants one after the other (so the peak RSS of the signed-in runs can be told from
        # that of the logins, whose Argon2 hashes take 19 MiB each); within a variant, every
        # repeat runs each concurrency on each server in turn.
        for variant in variants:
            for repeat in range(args.repeats):
                for c in args.concurrency:
                    for t in targets:
                        r = measure(t, variant, c, args.duration)
                        results.setdefault((t.name, variant, c), []).append(r)
                        print(f"[{repeat + 1}/{args.repeats}] {t.name:20} {variant:10} c={c}  {r['rps']:7.0f} rt/s  "
                              f"p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  cpu {r['cpu']:.3f} ms/rt  "
                              f"pg {fmt(r['db_cpu'], 3)}  client {r['client_cpu']:.3f} ms/rt "
                              f"({r['client_share'] * 100:.0f}%)  others {r['others_share'] * 100:.0f}%  "
                              f"errors {r['errors']}", flush=True)
            rss[variant] = {t.name: common.peak_rss_mib(t.proc.pid) for t in targets}
    finally:
        for t in started:
            t.stop()
    text = report(args, results, rss, quiet, targets)
    with open(args.out, "w") as f:
        f.write(text)
    print("\n" + text)


if __name__ == "__main__":
    sys.exit(main())
