"""What the fault scenarios (faults/) and the benchmarks (bench/) both need to drive a real
Gatehouse from Python: free loopback ports, the environment and command line of a server
process and of the CLI, waiting for readiness and stopping, form-encoded HTTP with basic
auth, Gatehouse's sign-in pages (reading their hidden fields and walking them to the app's
redirect), PKCE and base64url, PostgreSQL through psql, and percentiles.

faults/common.py and bench/common.py import this and keep only what is theirs (the faults'
record of secrets and their cookie-jar Browser; the benchmarks' release build, /proc
accounting and raw-socket HTTP client). Standard library only, so that every script that
imports either of them runs on a bare python3, as before.
"""

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request


def free_port():
    # Closed before the server binds it: a small race, but nothing else on these machines
    # grabs loopback ports in between.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Gatehouse processes --------------------------------------------------------------------

def gatehouse_env(database_url, keys_dir, log, **extra):
    """This process's environment plus what a Gatehouse server or CLI run reads; `extra` last,
    so a scenario can override any of it."""
    env = dict(os.environ)
    env.update({"GATEHOUSE_DATABASE_URL": database_url, "GATEHOUSE_KEYS_DIR": keys_dir, "GATEHOUSE_LOG": log})
    env.update(extra)
    return env


def run_cli(bin_path, env, *args, stdin=None, cwd=None, timeout=None):
    """`gatehouse --json ARGS`, parsed (None for no output). Raises RuntimeError with the CLI's
    own stderr, which says why far better than an exit status."""
    out = subprocess.run([bin_path, "--json", *args], env=env, input=stdin, cwd=cwd, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"gatehouse {' '.join(args)}: {out.stderr.strip()}")
    return json.loads(out.stdout) if out.stdout.strip() else None


def spawn_gatehouse(bin_path, env, port, issuer=None, config=None, output=None, cwd=None):
    """`gatehouse serve` on 127.0.0.1:`port`, not waited for. `output` is an open file for its
    log (it logs to standard output; both streams go there), else the log is discarded."""
    args = [bin_path] + (["--config", config] if config else [])
    args += ["serve", "--listen", f"127.0.0.1:{port}"] + (["--issuer", issuer] if issuer else [])
    if output is None:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.Popen(args, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)


class NotReady(RuntimeError):
    pass


def wait_ready(url, proc, seconds=30, poll=0.2):
    """Polls `url` until it answers 200; returns the seconds waited. Raises NotReady when `proc`
    exits first or `seconds` pass. The faults poll every 25 ms because they report how soon a
    restarted server is ready; the benchmarks only need it to be."""
    started = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except Exception:  # refused, reset, 503 while starting: all mean "not yet"
            pass
        if proc.poll() is not None:
            raise NotReady(f"server exited early ({proc.returncode}) while waiting for {url}")
        if time.monotonic() - started >= seconds:
            raise NotReady(f"{url} not ready after {seconds}s")
        time.sleep(poll)


def stop_process(proc, timeout, kill=True):
    """SIGTERM, then up to `timeout` seconds for a graceful exit. With kill, SIGKILL after that;
    without, subprocess.TimeoutExpired (the benchmarks would rather stop than measure next to a
    server that would not shut down)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        if not kill:
            raise
        proc.kill()
        proc.wait()


# --- HTTP -----------------------------------------------------------------------------------

def basic(client_id, secret):
    """An Authorization header value for client_secret_basic."""
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _build(method, url, form=None, body=None, headers=None, auth=None):
    # form: a dict, or a body already encoded (the benchmarks keep theirs as strings);
    # auth: (client_id, secret), or a ready Authorization value.
    headers = dict(headers or {})
    data = None
    if form is not None:
        data = (form if isinstance(form, str) else urllib.parse.urlencode(form)).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if auth:
        headers["Authorization"] = auth if isinstance(auth, str) else basic(*auth)
    return urllib.request.Request(url, data=data, method=method, headers=headers)


def request(method, url, form=None, body=None, headers=None, auth=None, timeout=10):
    """(status, parsed JSON or text); status 0 when the connection failed or timed out. Never
    raises for an HTTP or network failure: the faults count those as outcomes."""
    req = _build(method, url, form, body, headers, auth)
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


def form_post(url, form, auth=None, timeout=10):
    """POSTs a form and returns the JSON answer ({} for none); raises urllib's HTTPError for an
    error status, for setup steps that cannot go on without the answer."""
    with urllib.request.urlopen(_build("POST", url, form=form, auth=auth), timeout=timeout) as r:
        return json.loads(r.read() or b"{}")


# --- Gatehouse's sign-in pages --------------------------------------------------------------

def hidden(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


def signin_form(html, email, password, extra=None):
    """The form that answers one of Gatehouse's sign-in pages (login, tenant, approve,
    consent), as tests/it/signin.rs `Browser::sign_in` fills it: the page's own hidden fields,
    the credentials on the login page, approval and consent given. `extra` overrides any field
    (a wrong password, say)."""
    form = {k: hidden(html, k) for k in ("request", "csrf", "action")}
    form.update({"login": {"email": email, "password": password}, "approve": {"decision": "approve"},
                 "consent": {"decision": "allow"}}.get(form["action"], {}))
    tenant = hidden(html, "tenant")
    if tenant:
        form["tenant"] = tenant
    form.update(extra or {})
    return form


def walk_sign_in(send, start, redirect, email, password, steps=None, stop_at=None, hops=10):
    """Walks Gatehouse's pages from `start` (an /authorize path) to the app's `redirect`.
    `send(method, path, form or None)` -> (status, Location or None, body text) is the caller's
    user agent: it keeps the cookies and must not follow redirects, so every hop is seen here.

    Returns (Location back to `redirect`, None), or with `stop_at` (an action name)
    (None, that page's HTML), unsubmitted. A page whose action is not in `steps` (when given)
    is an error, as is not arriving within `hops` answers."""
    status, location, html = send("GET", start, None)
    for _ in range(hops):
        if location:
            if location.startswith(redirect):
                return location, None
            status, location, html = send("GET", location, None)
            continue
        if status != 200:
            raise RuntimeError(f"sign-in page answered {status}: {html[:200]!r}")
        action = hidden(html, "action")
        if stop_at and action == stop_at:
            return None, html
        if steps is not None and action not in steps:
            raise RuntimeError(f"unexpected sign-in step {action}")
        status, location, html = send("POST", "/signin", signin_form(html, email, password))
    raise RuntimeError("sign-in did not finish")


def redirect_query(location):
    """The query of a redirect back to the app (code, state, or error), as a dict."""
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(location).query))


def code_from(location):
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]


# --- encodings ------------------------------------------------------------------------------

def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def pkce_challenge(verifier):
    """The S256 code_challenge of a PKCE code_verifier."""
    return b64url(hashlib.sha256(verifier.encode()).digest())


# --- PostgreSQL -----------------------------------------------------------------------------

def psql(url, sql):
    """One statement through the psql client (no driver to install); its unaligned output."""
    return subprocess.run(["psql", url, "-qAtc", sql], capture_output=True, text=True, check=True).stdout.strip()


def fresh_postgres(admin_url, name):
    """An empty database `name` on the server of `admin_url` (any database there); its URL.
    FORCE, because a crashed earlier run may have left servers connected to it."""
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    psql(admin_url, f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_postgres(admin_url, name):
    psql(admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- figures --------------------------------------------------------------------------------

def percentile(values, p, rank="nearest"):
    """The p-th percentile of `values` (nan for none), one of the values. Two rank rules, kept
    so that figures stay comparable with the earlier runs each suite has published: "nearest"
    rounds p% of the way from the smallest to the largest (the faults); "floor" takes index
    floor(n * p/100) (bench/codeflow.py's p50 and p99)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    n = len(ordered)
    if rank == "floor":
        return ordered[min(int(n * (p / 100)), n - 1)]
    return ordered[min(n - 1, int(round(p / 100 * (n - 1))))]
