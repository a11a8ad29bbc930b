"""F10: a storm of wrong-password logins while JWKS and client_credentials are measured, and
the scan of every log the suite wrote (all at TRACE) for anything secret it made."""

import json
import os
import subprocess
import sys
import threading
import time

from common import CREATED, LOGS, WORK, Browser, Server, cli, percentile, scenario, sqlite_env, web_world

STORM_SECONDS = 30
STORMERS = 200


@scenario(f"F10 {STORMERS} concurrent wrong-password logins for {STORM_SECONDS} s; JWKS and client_credentials measured")
def f10_storm():
    _, env = sqlite_env("f10")
    partner, web = web_world(env, "F10")
    app = cli(env, "app", "create", "--partner", partner, "--template", "server-to-server", "--name", "F10 Sync")
    s2s = (app["app"]["client_id"], app["client_secret"]["secret"])
    CREATED.add(s2s[1])
    server = Server(env, "f10")
    server.start()
    wrong = "not the password at all"
    CREATED.add(wrong)
    statuses, lock = {}, threading.Lock()
    deadline = time.monotonic() + STORM_SECONDS

    def stormer(i):
        browser = Browser(f"user{i % 20}@f10.test")
        page = browser.sign_in(server.url, web[0], stop_at="login")
        form = browser.answer(page, {"password": wrong})
        for _ in range(10_000):  # bounded by the deadline long before
            if time.monotonic() > deadline:
                return
            status, _, _ = browser.send(server.url, "POST", "/signin", form)
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=stormer, args=(i,)) for i in range(STORMERS)]
    for t in threads:
        t.start()
    probe = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "measure.py"), server.url, s2s[0],
                            s2s[1], str(STORM_SECONDS - 2)], capture_output=True, text=True, timeout=STORM_SECONDS + 60)
    for t in threads:
        t.join()
    alive = server.proc.poll() is None
    server.stop()
    measured = json.loads(probe.stdout)
    jwks_p99 = percentile(measured["jwks"], 99)
    cc_p99 = percentile(measured["client_credentials"], 99)
    ok = (jwks_p99 < 200 and cc_p99 < 500 and not measured["errors"] and statuses.get(429, 0) > 0
          and not any(s >= 500 or s == 0 for s in statuses) and alive)
    return ok, (f"logins {sum(statuses.values())} {statuses}; JWKS {len(measured['jwks'])} requests p50 "
                f"{percentile(measured['jwks'], 50):.1f} ms p99 {jwks_p99:.1f} ms; client_credentials "
                f"{len(measured['client_credentials'])} requests p50 {percentile(measured['client_credentials'], 50):.1f} "
                f"ms p99 {cc_p99:.1f} ms; probe errors {measured['errors']}")


@scenario("F10 nothing secret in the TRACE logs of every scenario above")
def f10_logs():
    # GNU grep's fixed-string search looks for every secret in one pass over each log; a
    # Python loop of `secret in text` is hours for a few hundred megabytes and thousands of secrets.
    patterns = os.path.join(WORK, "created-secrets.txt")
    values = sorted({line for v in CREATED if v for line in v.splitlines() if len(line) >= 8})
    with open(patterns, "w") as f:
        f.write("\n".join(values) + "\n")

    def scan(path):
        out = subprocess.run(["grep", "-F", "-o", "-a", "-f", patterns, path], capture_output=True, text=True,
                             errors="replace")
        if out.returncode not in (0, 1):
            raise RuntimeError(f"grep failed on {path}: {out.stderr.strip()}")
        return sorted(set(out.stdout.splitlines()))

    # A positive control: a log line carrying one of the secrets must be found.
    control = os.path.join(WORK, "control.log")
    with open(control, "w") as f:
        f.write(f"2026-01-01T00:00:00Z TRACE control line body={values[len(values) // 2]}&x=1\n")
    control_found = len(scan(control)) == 1
    found, total, logs = [], 0, [p for p in LOGS if os.path.exists(p)]
    for path in logs:
        total += os.path.getsize(path)
        found += [(os.path.basename(path), value[:12] + "…") for value in scan(path)]
    return not found and control_found, (f"{len(logs)} logs, {total / 1e6:.0f} MB, {len(values)} secrets looked for, "
                                         f"{len(found)} found {found[:3]} (the control line was found: {control_found})")
