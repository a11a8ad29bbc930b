"""Faults across instances: F3 (two instances on one database racing every single-use
artefact, sessions and tokens crossing over), F6 (key rotation under traffic and a crash in the
middle of a rotation), F7 (client assertions from a skewed clock), F8 (a restart between the
consent page and its submission)."""

import base64
import datetime
import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from common import (BIN, CREATED, Browser, Server, b64url, cli, config_file, error_of, free_port, postgres_env, psql,
                    race, redeem, refresh, request, scenario, sign_jwt, sqlite_env, web_world)

NO_GRACE = "[tokens]\nrefresh_grace_secs = 0\n"


def query(database_url, sql):
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url[len("sqlite://"):]) as db:
            return "\n".join("|".join(str(c) for c in row) for row in db.execute(sql))
    return psql(database_url, sql)


class World:
    """A web app for sign-ins and a server-to-server app with a certificate and a system token."""

    def __init__(self, env, database_url, tag):
        self.partner, self.web = web_world(env, tag)
        self.tag, self.ctx = tag, f"{tag}Cust"
        app = cli(env, "app", "create", "--partner", self.partner, "--template", "server-to-server",
                  "--name", f"{tag} Sync")
        self.s2s = (app["app"]["client_id"], app["client_secret"]["secret"])
        CREATED.add(self.s2s[1])
        self.private_pem = cli(env, "app", "cert", "generate", self.s2s[0])["private_key_pem"]
        CREATED.add(self.private_pem.strip().splitlines()[1])
        cli(env, "tenant", "approve", "--ctx", self.ctx, "--client-id", self.s2s[0])
        self.system_token = query(database_url, "SELECT r.system_token FROM authorization_records r JOIN apps a ON a.id = r.app_id "
                                                f"WHERE r.system_token IS NOT NULL AND a.client_id = '{self.s2s[0]}'")
        CREATED.add(self.system_token)

    def assertion(self, audience, iat_offset=0, jti=None):
        now = int(time.time())
        claims = {"iss": self.s2s[0], "sub": self.s2s[0], "aud": audience, "iat": now + iat_offset,
                  "exp": now + iat_offset + 60, "jti": jti or b64url(os.urandom(16))}
        jwt = sign_jwt(self.private_pem, claims)
        CREATED.add(jwt)
        return jwt

    def signed_system_token(self):
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M")
        message = f"{self.system_token}.{stamp}"
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        signed = f"{message}.{base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()}"
        CREATED.add(signed)
        return signed


def with_assertion(server, jwt):
    return request("POST", f"{server.url}/token", form={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": jwt})[0]


def clean(hist):
    """No 5xx and no dropped connection in a histogram of statuses or outcomes."""
    return not any(isinstance(k, int) and (k >= 500 or k == 0) for k in hist)


def cross_instance(a, b, world, issuer):
    """F3's invariants for two instances a and b of one deployment. Returns (ok, figures)."""
    servers = [a, b]
    figures, checks = [], []
    jwks_equal = request("GET", f"{a.url}/jwks")[1] == request("GET", f"{b.url}/jwks")[1]
    checks.append(jwks_equal)
    status, body = request("POST", f"{a.url}/token", form={"grant_type": "client_credentials"}, auth=world.s2s)
    CREATED.add(body["access_token"])
    status, intro = request("POST", f"{b.url}/introspect", form={"token": body["access_token"]}, auth=world.s2s)
    checks.append(intro.get("active") is True)
    figures.append(f"JWKS equal {jwks_equal}, token from A active at B {intro.get('active')}")

    # The tenant administrator's first sign-in: the approval and consent pages.
    admin = Browser(f"admin@{world.tag.lower()}.test")
    consent_html = admin.sign_in(a.url, world.web[0], state="consent-race", stop_at="consent")
    form = admin.answer(consent_html)

    def submit(i):
        status, location, _ = admin.send(servers[i % 2].url, "POST", "/signin", form)
        if location and "code=" in location:
            q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
            CREATED.add(q["code"])
            return "code" if q.get("state") == "consent-race" else "code for another request"
        return status

    consent_hist = race(20, submit)
    checks.append(consent_hist.get("code") == 1 and "code for another request" not in consent_hist and clean(consent_hist))
    figures.append(f"one consent form x20 {consent_hist}")

    # The session made at A signs in at B without a login page.
    answer = admin.sign_in(b.url, world.web[0], state="at-b")
    session_ok = answer.get("state") == "at-b" and "code" in answer
    checks.append(session_ok)
    figures.append(f"session from A works at B {session_ok}")

    code = admin.sign_in(a.url, world.web[0])["code"]
    code_hist = race(50, lambda i: (lambda r: r[0] if r[0] != 400 else error_of(r[1]))(redeem(servers[i % 2].url, world.web, code)))
    checks.append(code_hist.get(200) == 1 and code_hist.get("invalid_grant") == 49)
    figures.append(f"one code x50 {code_hist}")

    status, body = redeem(b.url, world.web, admin.sign_in(b.url, world.web[0])["code"])
    token = body["refresh_token"]
    refresh_hist = race(50, lambda i: (lambda r: r[0] if r[0] != 400 else error_of(r[1]))(refresh(servers[i % 2].url, world.web, token)))
    checks.append(refresh_hist.get(200) == 1 and refresh_hist.get("invalid_grant") == 49)
    figures.append(f"one refresh token x50 {refresh_hist}")

    one = world.assertion(issuer)
    jti_hist = race(50, lambda i: with_assertion(servers[i % 2], one))
    checks.append(jti_hist.get(200) == 1 and jti_hist.get(401) == 49)
    figures.append(f"one client assertion x50 {jti_hist}")

    body = {"SignedSystemToken": world.signed_system_token(), "ApplicationToken": world.s2s[1],
            "ContextIdentifier": world.ctx, "ReturnTokenType": "JWT"}

    # SuperID's API answers 200 either way; IsSuccessful tells. The identical string sent again
    # gets the first answer back (docs/decisions/0016-identical-system-user-retries.md), so the
    # race must end with one answer: every success carries the same token.
    answers = set()

    def exchange(i):
        status, answer = request("POST", f"{servers[i % 2].url}/Login/api/PartnerSystemUser/Authenticate", body=body)
        if status == 200 and isinstance(answer, dict):
            if answer.get("Token"):
                CREATED.add(answer["Token"])
                answers.add(answer["Token"])
            return "success" if answer.get("IsSuccessful") else "refused"
        return status

    su_hist = race(50, exchange)
    checks.append(set(su_hist) <= {"success", "refused"} and su_hist.get("success", 0) >= 1 and len(answers) == 1)
    figures.append(f"one signed system token x50 {su_hist}, {len(answers)} distinct answer(s)")
    return all(checks), "; ".join(figures)


@scenario("F3 two instances on one PostgreSQL racing single-use artefacts")
def f3():
    db, env = postgres_env("gatehouse_faults_f3")
    world = World(env, db, "F3")
    issuer = f"http://127.0.0.1:{free_port()}"
    config = config_file("f3", NO_GRACE)
    a, b = Server(env, "f3-a", issuer=issuer, config=config), Server(env, "f3-b", issuer=issuer, config=config)
    a.start()
    b.start()
    try:
        return cross_instance(a, b, world, issuer)
    finally:
        a.stop()
        b.stop()


@scenario("F7 client assertions from a skewed clock (30 s allowed)")
def f7():
    url, env = sqlite_env("f7")
    world = World(env, url, "F7")
    server = Server(env, "f7")
    server.start()
    try:
        results = {offset: with_assertion(server, world.assertion(server.issuer, offset)) for offset in (8, -8, 70)}
    finally:
        server.stop()
    ok = results[8] == 200 and results[-8] == 200 and results[70] in (400, 401)
    return ok, (f"iat +8 s -> {results[8]}, -8 s -> {results[-8]}, +70 s -> {results[70]}; "
                "the server clock stepping back 5 min and forward 2 h: tests/it/clock_steps.rs")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CachingVerifier:
    """A resource server that verifies our JWTs against a JWKS it caches for 60 s, the way
    a typical library does: a rotation must never show it a kid it has not seen."""

    def __init__(self, jwks_url):
        self.url, self.fetched, self.keys = jwks_url, 0.0, {}
        self.fetches = 0

    def key(self, kid):
        if time.monotonic() - self.fetched > 60:
            self.keys = {k["kid"]: k for k in request("GET", self.url)[1]["keys"]}
            self.fetched, self.fetches = time.monotonic(), self.fetches + 1
        return self.keys.get(kid)

    def verify(self, jwt):
        head, payload, sig = jwt.split(".")
        header = json.loads(b64url_decode(head))
        jwk = self.key(header.get("kid"))
        if jwk is None:
            return False
        data, signature = f"{head}.{payload}".encode(), b64url_decode(sig)
        try:
            if jwk["kty"] == "RSA":
                n, e = (int.from_bytes(b64url_decode(jwk[m]), "big") for m in ("n", "e"))
                rsa.RSAPublicNumbers(e, n).public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            elif jwk["kty"] == "EC":
                x, y = (int.from_bytes(b64url_decode(jwk[m]), "big") for m in ("x", "y"))
                key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
                half = len(signature) // 2
                from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
                der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
                key.verify(der, data, ec.ECDSA(hashes.SHA256()))
            else:
                return False
        except Exception:
            return False
        return True


def current_keys(database_url, alg="RS256"):
    rows = query(database_url, f"SELECT kid FROM signing_keys WHERE alg = '{alg}' AND state = 'current' AND app_id IS NULL")
    return [r for r in rows.splitlines() if r]


def next_keys(database_url, alg="RS256"):
    rows = query(database_url, f"SELECT kid FROM signing_keys WHERE alg = '{alg}' AND state = 'next' AND app_id IS NULL")
    return [r for r in rows.splitlines() if r]


@scenario("F6 key rotation under traffic on two instances, and a crash in the middle of a rotation")
def f6():
    db, env = postgres_env("gatehouse_faults_f6")
    world = World(env, db, "F6")
    issuer = f"http://127.0.0.1:{free_port()}"
    a, b = Server(env, "f6-a", issuer=issuer), Server(env, "f6-b", issuer=issuer)
    a.start()
    b.start()
    verifier = CachingVerifier(f"{a.url}/jwks")
    verifier.key("")  # cached now, before the rotation
    before = current_keys(db)[0]
    counts = {"tokens": 0, "failures": 0, "errors": 0}
    kids_seen = {a.name: set(), b.name: set()}
    lock = threading.Lock()
    stop = threading.Event()

    def traffic(i):
        server = (a, b)[i % 2]
        for _ in range(20_000):  # bounded; the scenario stops it sooner
            if stop.is_set():
                return
            time.sleep(0.005)
            status, body = request("POST", f"{server.url}/token", form={"grant_type": "client_credentials"}, auth=world.s2s)
            if status != 200:
                with lock:
                    counts["errors"] += 1
                continue
            jwt = body["access_token"]
            CREATED.add(jwt)
            kid = json.loads(b64url_decode(jwt.split(".")[0]))["kid"]
            good = verifier.verify(jwt)
            with lock:
                counts["tokens"] += 1
                counts["failures"] += 0 if good else 1
                kids_seen[server.name].add(kid)

    threads = [threading.Thread(target=traffic, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(2)
    rotated = cli(env, "keys", "rotate", "--alg", "RS256")["kid"]
    # Each instance re-reads the keys every 30 s; wait until both sign with the new key.
    switched_after = None
    started = time.monotonic()
    while time.monotonic() - started < 45:
        with lock:
            if all(rotated in seen for seen in kids_seen.values()):
                switched_after = time.monotonic() - started
                break
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()

    # Crashes inside a rotation: after the new next key is made, and before the commit.
    crashes = {}
    for point in ("keys.rotate.after_next_made", "keys.rotate.before_commit"):
        crash_env = dict(env, GATEHOUSE_FAILPOINT=point)
        out = subprocess.run([BIN, "--json", "keys", "rotate", "--alg", "RS256"], env=crash_env,
                             capture_output=True, text=True, timeout=60)
        crashes[point] = out.returncode
    current, upcoming = current_keys(db), next_keys(db)
    a.kill9()
    a.start()
    published = {k["kid"] for k in request("GET", f"{a.url}/jwks")[1]["keys"]}
    status, body = request("POST", f"{a.url}/token", form={"grant_type": "client_credentials"}, auth=world.s2s)
    signed_with = json.loads(b64url_decode(body["access_token"].split(".")[0]))["kid"] if status == 200 else None
    a.stop()
    b.stop()
    ok = (counts["failures"] == 0 and counts["errors"] == 0 and switched_after is not None
          and all(code != 0 for code in crashes.values()) and len(current) == 1 and current[0] == rotated
          and len(upcoming) == 1 and set(current + upcoming) <= published and signed_with == rotated)
    return ok, (f"{counts['tokens']} tokens verified by a 60 s JWKS cache across the rotation, {counts['failures']} "
                f"failures, {counts['errors']} errors, both instances signing with the new key "
                f"{switched_after if switched_after is None else round(switched_after, 1)} s after `keys rotate` "
                f"(old {before[:6]}, new {rotated[:6]}); crashes mid-rotation (exit {list(crashes.values())}) left "
                f"{len(current)} current and {len(upcoming)} next key, both in JWKS, current unchanged "
                f"{current == [rotated]}, tokens signed with it after restart {signed_with == rotated}")


@scenario("F8 restart between the consent page and its submission")
def f8():
    _, env = sqlite_env("f8")
    server = Server(env, "f8")
    server.start()
    outcomes = []
    try:
        for how, tag in (("SIGTERM", "F8t"), ("kill -9", "F8k")):
            _, web = web_world(env, tag)
            user = Browser(f"admin@{tag.lower()}.test")
            other = Browser(f"admin@{tag.lower()}.test")
            page = user.sign_in(server.url, web[0], state=f"{tag}-mine", nonce=f"{tag}-nonce", stop_at="consent")
            other.sign_in(server.url, web[0], state=f"{tag}-other", stop_at="login")
            form = user.answer(page)
            if how == "SIGTERM":
                server.stop()
            else:
                server.kill9()
            server.start()
            # Someone else's browser submitting this form gets no code.
            status, location, _ = other.send(server.url, "POST", "/signin", form)
            stolen = bool(location and "code=" in location)
            status, location, html = user.send(server.url, "POST", "/signin", form)
            if location and "code=" in location:
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
                CREATED.add(q["code"])
                status, tokens = redeem(server.url, web, q["code"])
                claims = json.loads(b64url_decode(tokens["id_token"].split(".")[1])) if status == 200 else {}
                mine = q.get("state") == f"{tag}-mine" and claims.get("nonce") == f"{tag}-nonce"
                outcomes.append((how, "code for this request" if mine else "code for another request", stolen))
            else:
                safe = status in (400, 403, 409, 410) and "again" in html.lower()
                outcomes.append((how, "start again" if safe else f"unexpected {status}", stolen))
    finally:
        server.stop()
    ok = all(o[1] in ("code for this request", "start again") and not o[2] for o in outcomes)
    return ok, "; ".join(f"{how}: {what}, another browser's submission gave a code {stolen}" for how, what, stolen in outcomes)
