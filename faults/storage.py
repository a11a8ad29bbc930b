"""Faults of the embedded database: F1 (kill -9 under mixed load), F4 (100 concurrent
writers, a second instance on the same file), F5 (disk full)."""

import concurrent.futures
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse

from common import (CREATED, WORK, Browser, Server, base_env, cli, config_file, error_of, opaque_s2s, redeem,
                    refresh, request, scenario, sqlite_env, web_world)
import instances


@scenario("F1 kill -9 on SQLite under mixed load")
def f1():
    _, env = sqlite_env("f1")
    s2s = opaque_s2s(env, "F1")
    _, web = web_world(env, "F1")
    initial = cli(env, "registration", "token", "create")["token"]
    CREATED.add(initial)
    # No refresh grace: a superseded refresh token is refused at once, so replays are checkable.
    server = Server(env, "f1", config=config_file("f1", "[tokens]\nrefresh_grace_secs = 0\n"))
    server.start()
    workers = 8
    browsers = [Browser("admin@f1.test") for _ in range(workers)]
    refresh_tokens = []
    for b in browsers:
        status, body = redeem(server.url, web, b.sign_in(server.url, web[0])["code"])
        refresh_tokens.append(body["refresh_token"])

    acked = {"registrations": [], "tokens": [], "revoked": [], "codes": [], "superseded": []}
    latest = {}  # worker -> its newest acknowledged refresh token, or None if a rotation was cut off
    lock = threading.Lock()
    attempts = {"n": 0}
    deadline = time.monotonic() + 2.0  # then the kill lands mid-load

    def worker(i):
        n, current = 0, refresh_tokens[i]
        latest[i] = current
        while n < 600:  # bounded: at most 600 requests per worker
            n += 1
            with lock:
                attempts["n"] += 1
            kind = n % 7  # registration, token, token, revocation, code, code, refresh
            if kind == 0:
                status, body = request("POST", f"{server.url}/register", headers={"Authorization": f"Bearer {initial}"},
                                       body={"redirect_uris": ["https://f1.example.com/cb"], "client_name": f"f1-{i}-{n}"})
                if status == 201:
                    acked["registrations"].append((body["client_id"], body["registration_access_token"], f"f1-{i}-{n}"))
                    CREATED.update([body["registration_access_token"], body.get("client_secret", "")])
            elif kind in (1, 2):
                status, body = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials"}, auth=s2s)
                if status == 200:
                    acked["tokens"].append(body["access_token"])
                    CREATED.add(body["access_token"])
            elif kind == 3:
                with lock:
                    token = acked["tokens"].pop() if acked["tokens"] else None
                if token is None:
                    continue
                status, _ = request("POST", f"{server.url}/revoke", form={"token": token}, auth=s2s)
                if status == 200:
                    acked["revoked"].append(token)
                elif status != 0:
                    acked["tokens"].append(token)
                # A revocation cut off by the kill may or may not have committed: its token is in neither list.
            elif kind in (4, 5):
                status, location, _ = browsers[i].authorize(server.url, web[0])
                if status == 0:
                    break
                code = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))["code"]
                CREATED.add(code)
                status, body = redeem(server.url, web, code)
                if status == 200:
                    acked["codes"].append(code)
            else:
                status, body = refresh(server.url, web, current)
                if status == 200:
                    acked["superseded"].append(current)
                    current = body["refresh_token"]
                    latest[i] = current
                elif status == 0:
                    latest[i] = None  # the rotation may have committed without an answer
            if status == 0 and time.monotonic() > deadline:
                return

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(worker, i) for i in range(workers)]
        while time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill9()
        for f in futures:
            f.result()
    integrity = sqlite3.connect(f"{WORK}/f1/gatehouse.db").execute("PRAGMA integrity_check").fetchone()[0]
    ready = server.start()
    lost = []
    for client_id, rat, name in acked["registrations"]:
        status, body = request("GET", f"{server.url}/register/{client_id}", headers={"Authorization": f"Bearer {rat}"})
        if status != 200 or body.get("client_name") != name:
            lost.append("registration")
    for token in acked["tokens"]:
        status, body = request("POST", f"{server.url}/introspect", form={"token": token}, auth=s2s)
        if not (status == 200 and body.get("active") is True):
            lost.append("token")
    resurrected = 0
    for token in acked["revoked"]:
        status, body = request("POST", f"{server.url}/introspect", form={"token": token}, auth=s2s)
        if not (status == 200 and body.get("active") is False):
            resurrected += 1
    # The newest acknowledged refresh token of each worker still rotates (the rotation was durable).
    newest = [t for t in latest.values() if t]
    for token in newest:
        if refresh(server.url, web, token)[0] != 200:
            lost.append("refresh")
    # Replays of acknowledged codes and superseded refresh tokens are refused.
    replays = {}
    for code in acked["codes"]:
        outcome = error_of(redeem(server.url, web, code)[1])
        replays[outcome] = replays.get(outcome, 0) + 1
    for token in acked["superseded"]:
        outcome = error_of(refresh(server.url, web, token)[1])
        replays[outcome] = replays.get(outcome, 0) + 1
    server.stop()
    writes = sum(len(acked[k]) for k in acked)
    ok = not lost and resurrected == 0 and integrity == "ok" and ready <= 5 and set(replays) <= {"invalid_grant"}
    return ok, (f"requests {attempts['n']}, acknowledged writes {writes} (registrations {len(acked['registrations'])}, "
                f"tokens {len(acked['tokens'])}, revocations {len(acked['revoked'])}, codes redeemed "
                f"{len(acked['codes'])}, refresh rotations {len(acked['superseded'])}), lost {len(lost)}, "
                f"revoked-but-active {resurrected}, newest refresh tokens still rotating {len(newest) - lost.count('refresh')}"
                f"/{len(newest)}, replays {replays}, integrity_check {integrity}, ready again in {ready:.2f} s")


@scenario("F4 100 concurrent writers on SQLite, then a second instance on the same file")
def f4():
    url, env = sqlite_env("f4")
    world = instances.World(env, url, "F4")
    cli(env, "app", "set", world.s2s[0], "--token-format", "opaque")
    initial = cli(env, "registration", "token", "create")["token"]
    CREATED.add(initial)
    config = config_file("f4", instances.NO_GRACE)
    a = Server(env, "f4-a", config=config)
    a.start()

    def writer(i):
        statuses = []
        for n in range(5):  # 100 writers x 5 writes, all at once
            if (i + n) % 2:
                status, body = request("POST", f"{a.url}/register", headers={"Authorization": f"Bearer {initial}"},
                                       body={"redirect_uris": ["https://f4.example.com/cb"], "client_name": f"f4-{i}-{n}"},
                                       timeout=30)
                if status == 201:
                    CREATED.update([body["registration_access_token"], body.get("client_secret", "")])
            else:
                status, body = request("POST", f"{a.url}/token", form={"grant_type": "client_credentials"},
                                       auth=world.s2s, timeout=30)
                if status == 200:
                    CREATED.add(body["access_token"])
            statuses.append(status)
        return statuses

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(100) as pool:
        statuses = [s for batch in pool.map(writer, range(100)) for s in batch]
    elapsed = time.monotonic() - started
    hist = {}
    for s in statuses:
        hist[s] = hist.get(s, 0) + 1
    locked = a.log_text().count("database is locked")
    writers_ok = set(hist) <= {200, 201, 503} and locked == 0

    # A second instance on the same file: SQLite's own locking serialises the two processes,
    # so the single-use guarantees (conditional updates in one database) hold across them.
    b = Server(env, "f4-b", issuer=a.issuer, config=config)
    b.start()
    try:
        shared_ok, shared = instances.cross_instance(a, b, world, a.issuer)
    finally:
        a.stop()
        b.stop()
    integrity = sqlite3.connect(f"{WORK}/f4/gatehouse.db").execute("PRAGMA integrity_check").fetchone()[0]
    ok = writers_ok and shared_ok and integrity == "ok"
    return ok, (f"{len(statuses)} writes from 100 writers in {elapsed:.1f} s: {hist}, 'database is locked' in the log {locked}; "
                f"second instance on the same file: {shared}; integrity_check {integrity}")


@scenario("F5 disk full under the SQLite directory")
def f5():
    folder = f"{WORK}/f5"
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", folder], check=True)
    try:
        return disk_full(folder)
    finally:
        subprocess.run(["umount", "-l", folder], check=False)


def disk_full(folder):
    url = f"sqlite://{folder}/gatehouse.db"
    env = base_env(url, f"{WORK}/f5-keys")
    cli(env, "migrate")
    client = opaque_s2s(env, "F5")
    server = Server(env, "f5")
    server.start()
    status, body = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials"}, auth=client)
    existing = body["access_token"]
    CREATED.add(existing)

    def write():
        status, body = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials"}, auth=client)
        if status == 200:
            CREATED.add(body["access_token"])
            return status, body["access_token"]
        return status, None

    # Fill the disk, then keep writing until the database's own spare pages are used up too.
    filler = f"{folder}/filler"
    # Unbuffered: a buffered file whose last flush fails raises again when it is closed.
    with open(filler, "wb", buffering=0) as f:
        try:
            for _ in range(1000):
                f.write(b"\0" * 65536)
        except OSError:
            pass
    full_started = time.monotonic()
    during, acked = {}, []
    # Long enough to span more than one log interval (10 s).
    for _ in range(2000):  # bounded
        status, token = write()
        during[status] = during.get(status, 0) + 1
        if token:
            acked.append(token)
        if time.monotonic() - full_started > 12:
            break
        time.sleep(0.01)
    reads = {"jwks": request("GET", f"{server.url}/jwks")[0],
             "introspect": request("POST", f"{server.url}/introspect", form={"token": existing}, auth=client)}
    reads["introspect"] = (reads["introspect"][0], reads["introspect"][1].get("active")
                           if isinstance(reads["introspect"][1], dict) else None)
    full_seconds = time.monotonic() - full_started
    alive = server.proc.poll() is None
    os.remove(filler)
    freed = time.monotonic()
    recovered_after = None
    for _ in range(200):  # bounded: 20 s
        status, token = write()
        if status == 200:
            recovered_after = time.monotonic() - freed
            acked.append(token)
            break
        time.sleep(0.1)
    lost = sum(1 for t in acked
               if request("POST", f"{server.url}/introspect", form={"token": t}, auth=client)[1].get("active") is not True)
    server.stop()
    log = server.log_text()
    panics = log.count("panicked")
    logged = log.count("database unavailable")
    allowed = int(full_seconds // 10) + 2
    ok = (set(during) <= {200, 503} and during.get(503, 0) > 0 and reads["jwks"] == 200
          and reads["introspect"] == (200, True) and alive and recovered_after is not None and lost == 0
          and panics == 0 and logged <= allowed)
    return ok, (f"writes while full {during} over {full_seconds:.1f} s; reads: JWKS {reads['jwks']}, introspection of "
                f"an existing token {reads['introspect']}; server alive {alive}, panics {panics}; writes succeed again "
                f"{'never' if recovered_after is None else f'{recovered_after:.2f} s'} after space was freed, no "
                f"restart; acknowledged tokens lost {lost}; 'database unavailable' logged {logged} times "
                f"(at most {allowed})")
