"""PostgreSQL going away under load: F2 (restarted, fast and immediate) and F9 (hung: every
table locked for 20 s). Gatehouse must fail closed and fast (503 within the configured
acquire timeout, a generic body, no 2xx for an uncommitted write, no unchecked
introspection) and heal on its own."""

import os
import subprocess
import threading
import time

from common import CREATED, Server, opaque_s2s, percentile, postgres_env, psql, request, scenario, timed

ACQUIRE = 2  # GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS for these scenarios: the limit every 503 must meet
CLUSTER = subprocess.run("ls /etc/postgresql | head -n1", shell=True, capture_output=True, text=True).stdout.strip()


def pg_ctl(*args):
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", CLUSTER, "main", *args], check=True,
                   capture_output=True, text=True, timeout=120)


def pg_ready():
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-q"]).returncode == 0


def setup(name):
    db, env = postgres_env(name, GATEHOUSE_DB_ACQUIRE_TIMEOUT_SECS=str(ACQUIRE))
    client = opaque_s2s(env, name)
    server = Server(env, name)
    server.start()
    status, body = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials"}, auth=client)
    known = body["access_token"]
    CREATED.add(known)
    return db, server, client, known


class Load:
    """Four workers for the whole scenario: opaque tokens (a write each), introspection of a
    known token, and /readyz; every answer is recorded with when it started and ended."""

    def __init__(self, server, client, known):
        self.server, self.client, self.known = server, client, known
        self.records, self.lock, self.stop = [], threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.work, args=(i,)) for i in range(4)]

    def work(self, i):
        url = self.server.url
        for _ in range(100_000):  # bounded; stopped by the scenario long before
            if self.stop.is_set():
                return
            kind = ("token", "token", "introspect", "readyz")[i]
            began = time.monotonic()
            if kind == "token":
                status, body = request("POST", f"{url}/token", form={"grant_type": "client_credentials"},
                                       auth=self.client, timeout=30)
            elif kind == "introspect":
                status, body = request("POST", f"{url}/introspect", form={"token": self.known}, auth=self.client,
                                       timeout=30)
            else:
                status, body = request("GET", f"{url}/readyz", timeout=30)
            ended = time.monotonic()
            if kind == "token" and status == 200:
                CREATED.add(body["access_token"])
            with self.lock:
                self.records.append((kind, began, ended, status, body))
            # The readiness probe would otherwise spin and starve the server of CPU on 2 cores.
            if status != 200 or kind == "readyz":
                time.sleep(0.05 if status != 200 else 0.02)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def judge(load, down, up, back=None):
    """Checks the records against an outage from `down` to `up` (monotonic seconds); healing
    is timed from `back`, when the database answered again (default `up`)."""
    back = up if back is None else back
    problems = []
    # `up` is when the runner saw the database back; it may serve a few hundred milliseconds
    # earlier (a lock is released at COMMIT, before psql exits), so the last half second is not
    # counted as outage.
    during = [r for r in load.records if r[1] >= down and r[2] <= up - 0.5]
    unavailable = [r for r in load.records if r[3] == 503]
    for kind, began, ended, status, body in during:
        if kind == "introspect" and status == 200 and body.get("active") is True:
            problems.append("introspection active:true while the database was away")
        if kind == "readyz" and status == 200:
            problems.append("/readyz ready while the database was away")
    for kind, began, ended, status, body in unavailable:
        if kind != "readyz" and not (isinstance(body, dict) and body.get("error") == "temporarily_unavailable"
                                     and set(body) <= {"error", "error_description"}):
            problems.append(f"503 body not generic: {str(body)[:80]}")
    slowest_503 = max((r[2] - r[1] for r in unavailable), default=0.0)
    # The request deadline is the acquire timeout plus one second; half a second more is slack
    # for this Python client on a busy machine.
    if slowest_503 > ACQUIRE + 1.5:
        problems.append(f"a 503 took {slowest_503:.2f} s")
    others = [r for r in load.records if r[3] not in (200, 503)]
    if others:
        problems.append(f"other statuses {sorted({r[3] for r in others})}")
    failures_after = [r for r in load.records if r[1] >= back and r[3] != 200]
    healed = max((r[2] for r in failures_after), default=back) - back
    if healed > 10:
        problems.append(f"errors until {healed:.1f} s after the database returned")
    # Every acknowledged token is in the database (no 2xx for an uncommitted write).
    acked = [r[4]["access_token"] for r in load.records if r[0] == "token" and r[3] == 200]
    lost = 0
    for token in acked:
        status, body = request("POST", f"{load.server.url}/introspect", form={"token": token}, auth=load.client)
        lost += 0 if (status == 200 and body.get("active") is True) else 1
    if lost:
        problems.append(f"{lost} acknowledged tokens missing")
    statuses = {}
    for r in load.records:
        statuses[r[3]] = statuses.get(r[3], 0) + 1
    by_kind = {}
    for kind, _, _, status, _ in during:
        by_kind.setdefault(kind, {})
        by_kind[kind][status] = by_kind[kind].get(status, 0) + 1
    figures = (f"requests {len(load.records)} {statuses}, during the outage {by_kind}, acknowledged tokens "
               f"{len(acked)}, lost {lost}, slowest 503 {slowest_503:.2f} s (acquire timeout {ACQUIRE} s, deadline {ACQUIRE + 1} s), healed "
               f"{healed:.2f} s after the database returned")
    return problems, figures


@scenario("F2 PostgreSQL restarted under load (fast, then immediate)")
def f2():
    db, server, client, known = setup("gatehouse_faults_f2")
    lines, all_problems = [], []
    try:
        for mode in ("fast", "immediate"):
            with Load(server, client, known) as load:
                time.sleep(1.5)
                pg_ctl("stop", "-m", mode)
                down = time.monotonic()
                time.sleep(8)  # the outage
                up_began = time.monotonic()
                pg_ctl("start")
                for _ in range(300):
                    if pg_ready():
                        break
                    time.sleep(0.1)
                up = time.monotonic()
                time.sleep(12)
            problems, figures = judge(load, down, up_began, up)
            lines.append(f"{mode}: {figures}")
            all_problems += problems
    finally:
        if not pg_ready():
            pg_ctl("start")
        server.stop()
    return not all_problems, " | ".join(lines) + (f" PROBLEMS {sorted(set(all_problems))}" if all_problems else "")


@scenario("F9 hung database: every table locked for 20 s")
def f9():
    db, server, client, known = setup("gatehouse_faults_f9")
    tables = psql(db, "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables WHERE schemaname = 'public'")
    health = []
    stop = threading.Event()

    def probe():
        for _ in range(10_000):
            if stop.is_set():
                return
            status, _, seconds = timed("GET", f"{server.url}/healthz", timeout=5)
            health.append((status, seconds))
            time.sleep(0.1)

    prober = threading.Thread(target=probe)
    try:
        with Load(server, client, known) as load:
            prober.start()
            time.sleep(1.5)
            # NOWAIT in a retry loop takes every lock at once or none, so the locker never
            # waits holding half of them (which deadlocks with Gatehouse's transactions).
            lock_all = (f"BEGIN; DO $$ BEGIN LOOP BEGIN LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE NOWAIT; EXIT; "
                        "EXCEPTION WHEN lock_not_available THEN PERFORM pg_sleep(0.01); END; END LOOP; END $$; "
                        "SELECT pg_sleep(20); COMMIT;")
            locker = subprocess.Popen(["psql", db, "-qAt", "-c", lock_all], env=dict(os.environ, PGAPPNAME="faults-locker"),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            count = len(tables.split(","))
            for _ in range(200):  # the outage starts once every lock is granted
                held = psql(db, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                                "WHERE a.application_name = 'faults-locker' AND l.mode = 'AccessExclusiveLock' "
                                "AND l.granted AND l.relation IS NOT NULL")
                if int(held) >= count:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the tables were never all locked")
            down = time.monotonic()
            locker.wait(timeout=60)
            up = time.monotonic()
            time.sleep(12)
            stop.set()
            prober.join()
        problems, figures = judge(load, down, up)
    finally:
        stop.set()
        server.stop()
    # Introspection during a lock may still be answered correctly from the database's
    # point of view only if it could read; a 200 active:true while every table is locked means
    # it did not ask. The readiness probe's SELECT 1 needs no table, so it stays ready: only the
    # requests that touch a table wait.
    problems = [p for p in problems if not p.startswith("/readyz")]
    slow_health = [s for st, s in health if st != 200 or s > 0.2]
    if slow_health:
        problems.append(f"/healthz slow or failing {len(slow_health)} times")
    p99 = percentile([s for _, s in health], 99) * 1000
    return not problems, (f"{figures}; /healthz {len(health)} probes, p99 {p99:.1f} ms, max "
                          f"{max(s for _, s in health) * 1000:.1f} ms" + (f" PROBLEMS {problems}" if problems else ""))
