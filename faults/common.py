"""What every scenario shares: starting and killing real Gatehouse processes, the CLI, HTTP
with and without a cookie jar, a scripted sign-in through our pages, concurrent races, and the
record of every secret made (F10 looks for them in the logs)."""

import base64
import concurrent.futures
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

BIN, PG_URL, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
LOGS = []  # every server log file, scanned by F10
CREATED = set()  # every secret, token, password or assertion the scenarios made
RESULTS = []

REDIRECT = "https://app.example.com/cb"
PASSWORD = "a long enough passphrase"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
CREATED.add(PASSWORD)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cli(env, *args, stdin=None):
    out = subprocess.run([BIN, "--json", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"gatehouse {' '.join(args)}: {out.stderr.strip()}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def request(method, url, form=None, body=None, headers=None, auth=None, timeout=10):
    """(status, parsed JSON or text); status 0 when the connection failed or timed out."""
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    except (urllib.error.URLError, ConnectionError, OSError, TimeoutError, http.client.HTTPException):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


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
        log = open(self.log_path, "a")
        args = [BIN] + (["--config", self.config] if self.config else [])
        self.proc = subprocess.Popen(args + ["serve", "--listen", f"127.0.0.1:{self.port}", "--issuer", self.issuer],
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self.proc

    def start(self):
        """Starts the process; returns the seconds until /readyz answered 200."""
        started = time.monotonic()
        self.spawn()
        for _ in range(400):
            if request("GET", f"{self.url}/readyz", timeout=1)[0] == 200:
                return time.monotonic() - started
            if self.proc.poll() is not None:
                break
            time.sleep(0.025)
        raise RuntimeError(f"{self.name} did not become ready (exit {self.proc.poll()})")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

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
                ok, figures = False, f"error: {e!r}"
            RESULTS.append(ok)
            print(f"{'ok' if ok else 'FAIL'} {name}: {figures} ({time.monotonic() - started:.1f} s)", flush=True)
        run.__name__ = fn.__name__
        return run
    return wrap


def base_env(database_url, keys_dir, **extra):
    env = dict(os.environ)
    env.update({"GATEHOUSE_DATABASE_URL": database_url, "GATEHOUSE_KEYS_DIR": keys_dir, "GATEHOUSE_LOG": "trace"})
    env.update(extra)
    return env


def config_file(name, text):
    path = os.path.join(WORK, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


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


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def psql(url, sql):
    return subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True, check=True).stdout.strip()


def fresh_postgres(name):
    psql(PG_URL, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(PG_URL, f"CREATE DATABASE {name}")
    return PG_URL.rsplit("/", 1)[0] + "/" + name


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
    cli(env, "tenant", "add", "--ctx", f"{tag}Cust", "--name", f"{tag} Customer", "--partner", partner)
    cli(env, "user", "add", "--email", f"admin@{tag.lower()}.test", "--tenant", f"{tag}Cust", "--admin",
        "--password-stdin", stdin=PASSWORD)
    app = cli(env, "app", "create", "--partner", partner, "--template", "web", "--name", f"{tag} Web",
              "--redirect-uri", REDIRECT)
    client = (app["app"]["client_id"], app["client_secret"]["secret"])
    CREATED.add(client[1])
    return partner, client


def hidden(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


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

    def authorize(self, base, client_id, state="s", nonce="n"):
        query = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                        "scope": "openid profile", "state": state, "nonce": nonce,
                                        "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
        return self.send(base, "GET", "/authorize?" + query)

    def answer(self, html, extra=None):
        """The form that answers this page (login, tenant approval, consent)."""
        form = {k: hidden(html, k) for k in ("request", "csrf", "action")}
        form.update({"login": {"email": self.email, "password": PASSWORD}, "approve": {"decision": "approve"},
                     "consent": {"decision": "allow"}}.get(form["action"], {}))
        if hidden(html, "tenant"):
            form["tenant"] = hidden(html, "tenant")
        form.update(extra or {})
        return form

    def sign_in(self, base, client_id, state="s", nonce="n", stop_at=None):
        """Walks our pages to the app's redirect; returns its query as a dict. With stop_at
        (an action name), returns that page's HTML instead, unsubmitted."""
        status, location, html = self.authorize(base, client_id, state, nonce)
        for _ in range(10):
            if location and location.startswith(REDIRECT):
                answer = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))
                CREATED.add(answer.get("code", ""))
                return answer
            if location:
                status, location, html = self.send(base, "GET", location)
                continue
            if status != 200:
                raise RuntimeError(f"sign-in page answered {status}")
            if stop_at and hidden(html, "action") == stop_at:
                return html
            status, location, html = self.send(base, "POST", "/signin", self.answer(html))
        raise RuntimeError("sign-in did not finish")


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
