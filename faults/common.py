"""What every scenario shares: starting and killing real Gatehouse processes, the CLI, HTTP
with and without a cookie jar, a scripted sign-in through our pages, concurrent races, and the
record of every secret made (F10 looks for them in the logs). What the benchmarks need too
(ports, processes, HTTP, the sign-in walk, psql) is pytools/gatehouse_harness.py; this file
adds the faults' own: the run's arguments, logs kept per server, and the record of secrets."""

import concurrent.futures
import http.client
import json
import os
import signal
import sys
import time
import traceback
import urllib.parse
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pytools"))
import gatehouse_harness as harness  # noqa: E402
# Re-exported: the scenario modules import these from here.
from gatehouse_harness import b64url, free_port, hidden, percentile, psql, request  # noqa: E402,F401

BIN, PG_URL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
LOGS = []  # every server log file, scanned by F10
CREATED = set()  # every secret, token, password or assertion the scenarios made
RESULTS = []

REDIRECT = "https://app.example.com/cb"
PASSWORD = "a long enough passphrase"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = harness.pkce_challenge(VERIFIER)
CREATED.add(PASSWORD)


def cli(env, *args, stdin=None):
    return harness.run_cli(BIN, env, *args, stdin=stdin, timeout=60)


def timed(method, url, **kw):
    """(status, body, seconds)."""
    started = time.monotonic()
    status, body = request(method, url, **kw)
    return status, body, time.monotonic() - started


class Server:
    def __init__(self, env, name, port=None, issuer=None, config=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.issuer = issuer or self.url
        self.env, self.name, self.config = env, name, config
        self.log_path = os.path.join(WORK, f"{name}.log")
        LOGS.append(self.log_path)
        self.proc = None

    def spawn(self):
        # Appended to, so a restarted server's log follows its predecessor's (F10 reads it all).
        log = open(self.log_path, "a")
        self.proc = harness.spawn_gatehouse(BIN, self.env, self.port, issuer=self.issuer, config=self.config,
                                            output=log)
        return self.proc

    def start(self):
        """Starts the process; returns the seconds until /readyz answered 200 (F1 bounds this)."""
        started = time.monotonic()
        self.spawn()
        try:
            harness.wait_ready(f"{self.url}/readyz", self.proc, seconds=10, poll=0.025)
        except harness.NotReady:
            raise RuntimeError(f"{self.name} did not become ready (exit {self.proc.poll()})") from None
        return time.monotonic() - started

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        harness.stop_process(self.proc, timeout=10)

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


def scenario(name):
    def wrap(fn):
        def run():
            started = time.monotonic()
            try:
                ok, figures = fn()
            except Exception as e:  # a scenario that crashes fails; the others still run
                where = traceback.extract_tb(e.__traceback__)[-1]
                ok, figures = False, f"error: {e!r} at {os.path.basename(where.filename)}:{where.lineno} `{where.line}`"
            RESULTS.append(ok)
            print(f"{'ok' if ok else 'FAIL'} {name}: {figures} ({time.monotonic() - started:.1f} s)", flush=True)
        run.__name__ = fn.__name__
        return run
    return wrap


def base_env(database_url, keys_dir, **extra):
    # trace: F10 must see every line a secret could leak into.
    return harness.gatehouse_env(database_url, keys_dir, "trace", **extra)


def config_file(name, text):
    path = os.path.join(WORK, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def sign_jwt(private_pem, claims, kid=None):
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    header = {"alg": "RS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def race(n, send):
    """n concurrent calls of send(i) -> outcome; returns a histogram of outcomes."""
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        outcomes = list(pool.map(send, range(n)))
    hist = {}
    for s in outcomes:
        hist[s] = hist.get(s, 0) + 1
    return hist


def fresh_postgres(name):
    return harness.fresh_postgres(PG_URL, name)


def sqlite_env(name, **extra):
    """A migrated SQLite database under WORK/name; (database URL, environment)."""
    os.makedirs(f"{WORK}/{name}", exist_ok=True)
    url = f"sqlite://{WORK}/{name}/gatehouse.db"
    env = base_env(url, f"{WORK}/{name}/keys", **extra)
    cli(env, "migrate")
    return url, env


def postgres_env(name, **extra):
    """A fresh, migrated PostgreSQL database; (database URL, environment)."""
    url = fresh_postgres(name)
    env = base_env(url, f"{WORK}/{name}/keys", **extra)
    cli(env, "migrate")
    return url, env


def opaque_s2s(env, tag):
    """A partner with a server-to-server app that issues opaque tokens; (client_id, secret)."""
    partner = cli(env, "partner", "add", "--name", tag)["id"]
    app = cli(env, "app", "create", "--partner", partner, "--template", "server-to-server", "--name", f"{tag} Sync")
    client = (app["app"]["client_id"], app["client_secret"]["secret"])
    CREATED.add(client[1])
    cli(env, "app", "set", client[0], "--token-format", "opaque")
    return client


def web_world(env, tag):
    """A partner, a tenant it owns with an administrator, and a private web app; (client_id, secret)."""
    partner = cli(env, "partner", "add", "--name", f"{tag} Partner")["id"]
    # Password sign-ins only: the faults are about the database and processes, not second factors.
    cli(env, "tenant", "add", "--ctx", f"{tag}Cust", "--name", f"{tag} Customer", "--partner", partner, "--mfa", "off")
    cli(env, "user", "add", "--email", f"admin@{tag.lower()}.test", "--tenant", f"{tag}Cust", "--admin",
        "--password-stdin", stdin=PASSWORD)
    app = cli(env, "app", "create", "--partner", partner, "--template", "web", "--name", f"{tag} Web",
              "--redirect-uri", REDIRECT)
    client = (app["app"]["client_id"], app["client_secret"]["secret"])
    CREATED.add(client[1])
    return partner, client


class Browser:
    """A user agent with a cookie jar that answers our sign-in pages; it never follows a
    redirect on its own, so every hop is checked."""

    def __init__(self, email):
        self.email, self.cookies = email, {}

    def send(self, base, method, path, form=None):
        """(status, Location, body); status 0 when the server could not be reached."""
        host, port = urllib.parse.urlparse(base).netloc.split(":")
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            data = res.read().decode(errors="replace")
        except (ConnectionError, OSError, http.client.HTTPException):
            return 0, None, ""
        finally:
            conn.close()
        for header, value in res.getheaders():
            if header.lower() == "set-cookie":
                name, _, val = value.split(";")[0].partition("=")
                if val:
                    self.cookies[name] = val
                else:
                    self.cookies.pop(name, None)
        return res.status, res.getheader("Location"), data

    @staticmethod
    def authorize_path(client_id, state="s", nonce="n"):
        return "/authorize?" + urllib.parse.urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "scope": "openid profile",
            "state": state, "nonce": nonce, "code_challenge": CHALLENGE, "code_challenge_method": "S256"})

    def authorize(self, base, client_id, state="s", nonce="n"):
        return self.send(base, "GET", self.authorize_path(client_id, state, nonce))

    def answer(self, html, extra=None):
        """The form that answers this page (login, tenant approval, consent)."""
        return harness.signin_form(html, self.email, PASSWORD, extra)

    def sign_in(self, base, client_id, state="s", nonce="n", stop_at=None):
        """Walks our pages to the app's redirect; returns its query as a dict. With stop_at
        (an action name), returns that page's HTML instead, unsubmitted."""
        location, html = harness.walk_sign_in(lambda method, path, form: self.send(base, method, path, form),
                                              self.authorize_path(client_id, state, nonce), REDIRECT, self.email,
                                              PASSWORD, stop_at=stop_at, hops=10)
        if location is None:
            return html
        answer = harness.redirect_query(location)
        CREATED.add(answer.get("code", ""))
        return answer


def redeem(base, client, code, verifier=VERIFIER):
    status, body = request("POST", f"{base}/token", auth=client, form={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier})
    if status == 200:
        CREATED.update([body["access_token"], body.get("refresh_token", ""), body.get("id_token", "")])
    return status, body


def refresh(base, client, token):
    status, body = request("POST", f"{base}/token", auth=client,
                           form={"grant_type": "refresh_token", "refresh_token": token})
    if status == 200:
        CREATED.update([body["access_token"], body.get("refresh_token", ""), body.get("id_token", "")])
    return status, body


def error_of(body):
    return body.get("error") if isinstance(body, dict) else None
