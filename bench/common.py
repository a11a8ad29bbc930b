"""Shared by the load benchmarks in bench/: the release build, starting Gatehouse (SQLite or a
fresh PostgreSQL database) and the peer (panva's oidc-provider in bench/peer), CPU and memory
accounting from /proc, waiting for a quiet machine, a small keep-alive HTTP client with a
cookie jar, and the walk through Gatehouse's sign-in pages."""

import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "gatehouse")
PEER_DIR = os.path.join(ROOT, "bench", "peer")
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


# --- /proc accounting ---------------------------------------------------------------------

def cpu_ticks(pid):
    """User + system clock ticks of a process (all its threads)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def processes():
    """(pid, ppid, comm) of every process."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        out.append((int(entry), ppid, comm))
    return out


def postgres_ticks():
    """CPU ticks of every PostgreSQL process (the backends serving Gatehouse do its SQL work,
    which Gatehouse's own /proc figures do not include). Exited backends are not counted, so
    take the difference over a window in which the pool keeps its connections."""
    total = 0
    for pid, _, comm in processes():
        if comm == "postgres":
            try:
                total += cpu_ticks(pid)
            except OSError:
                pass
    return total


def descendants(root):
    children = {}
    for pid, ppid, _ in processes():
        children.setdefault(ppid, []).append(pid)
    seen, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


BUILDS = ("rustc", "cargo")
BROWSERS_AND_NODE = ("node", "chrom")  # chromium, chrome_crashpad…


def foreign(names):
    """(pid, comm) of the processes named like `names` that are not this one or its children."""
    ours = descendants(os.getpid()) | {os.getpid()}
    return [(pid, comm) for pid, _, comm in processes() if pid not in ours and comm.startswith(names)]


def busy_processes(ticks_before=None):
    """Builds (rustc, cargo) of others, and browsers or node processes of others that used CPU
    since `ticks_before` (pid -> ticks, as returned next to the list). Idle ones left open by
    other sessions do not disturb a measurement and are not counted."""
    busy, ticks = [], {}
    for pid, comm in foreign(BUILDS + BROWSERS_AND_NODE):
        if comm.startswith(BUILDS):
            busy.append((pid, comm))
            continue
        try:
            ticks[pid] = cpu_ticks(pid)
        except OSError:
            continue
        if ticks_before is None or ticks[pid] - ticks_before.get(pid, 0) >= 2:
            busy.append((pid, comm))
    return busy, ticks


def wait_quiet(quiet_secs=60, give_up_secs=25 * 60, poll=5):
    """Waits until, for `quiet_secs`, no build ran and no browser or node process of others used
    CPU. Returns (quiet, seconds waited, load averages when done)."""
    start = quiet_since = time.time()
    busy, ticks = busy_processes()
    last_note = 0.0
    while True:
        time.sleep(poll)
        busy, ticks = busy_processes(ticks)
        now = time.time()
        if busy:
            quiet_since = now
            if now - last_note >= 60:
                print(f"waiting for a quiet machine: {len(busy)} busy processes, e.g. {busy[0][1]} ({busy[0][0]})",
                      flush=True)
                last_note = now
        elif now - quiet_since >= quiet_secs:
            return True, now - start, os.getloadavg()
        if now - start >= give_up_secs:
            return False, now - start, os.getloadavg()


def machine_busy_ticks():
    """Ticks all CPUs spent on anything but idle and iowait (/proc/stat)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4]


def wait_for_builds(poll=20):
    """Cargo and rustc runs of others hold the build lock and the CPU: wait for them to end."""
    while foreign(BUILDS):
        print("waiting for another cargo/rustc run to finish", flush=True)
        time.sleep(poll)


# --- building and starting the servers ----------------------------------------------------

def newest_source_mtime():
    newest = 0.0
    for top in ("src", "migrations"):
        for folder, _, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                newest = max(newest, os.path.getmtime(os.path.join(folder, f)))
    for f in ("Cargo.toml", "Cargo.lock", "build.rs"):
        p = os.path.join(ROOT, f)
        if os.path.exists(p):
            newest = max(newest, os.path.getmtime(p))
    return newest


def ensure_release_build():
    """Builds target/release/gatehouse only when it is missing or older than the sources, and
    never while another cargo or rustc run is going on."""
    if os.path.exists(BIN) and os.path.getmtime(BIN) >= newest_source_mtime():
        return
    wait_for_builds()
    print("building the release binary (cargo build --release --bin gatehouse)", flush=True)
    sh("cargo", "build", "--quiet", "--release", "--bin", "gatehouse", cwd=ROOT)


def source_version():
    """The commit the sources are at, and whether src/ has changes not committed."""
    try:
        commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT).strip()
        dirty = sh("git", "status", "--porcelain", "--", "src", "migrations", "Cargo.toml", "Cargo.lock", cwd=ROOT).strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"{commit}{' with uncommitted changes in src/' if dirty else ''}"


def ensure_peer():
    if not os.path.isdir(os.path.join(PEER_DIR, "node_modules")):
        sh("npm", "ci", "--no-audit", "--no-fund", cwd=PEER_DIR)


def form_post(url, body, auth=None):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/x-www-form-urlencoded"})
    if auth:
        req.add_header("Authorization", auth)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"{}")


def basic(client_id, secret):
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class Gatehouse:
    """A fresh Gatehouse (release build) on SQLite in a temporary folder, or on a new
    PostgreSQL database; nothing seeded."""

    def __init__(self, backend, log="warn", output=None):
        self.backend = backend
        self.name = f"gatehouse-{backend}"
        self.dir = tempfile.mkdtemp(prefix="gatehouse-bench-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.output = output  # a file for the server's log (it logs to standard output)
        if backend == "sqlite":
            self.db = f"sqlite://{self.dir}/gatehouse.db"
        else:
            name = f"gatehouse_bench_{os.getpid()}_{self.port}"
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name}")
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"CREATE DATABASE {name}")
            self.db = f"{PG_BASE}/{name}"
            self.pg_name = name
        self.env = dict(os.environ, GATEHOUSE_DATABASE_URL=self.db, GATEHOUSE_KEYS_DIR=f"{self.dir}/keys", GATEHOUSE_LOG=log)

    def cli(self, *args, stdin=None):
        out = subprocess.run([BIN, "--json", *args], input=stdin, text=True, env=self.env, cwd=self.dir,
                             check=True, capture_output=True).stdout
        return json.loads(out) if out.strip() else None

    def start(self):
        self.proc = subprocess.Popen([BIN, "serve", "--listen", f"127.0.0.1:{self.port}"], env=self.env, cwd=self.dir,
                                     stdout=self.output or subprocess.DEVNULL, stderr=self.output or subprocess.DEVNULL)
        wait_ready(self.base + "/readyz", self.proc)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        if hasattr(self, "pg_name"):
            sh("psql", f"{PG_BASE}/postgres", "-qc", f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


class Peer:
    """panva's oidc-provider with bench/peer/server.js (clients `bench` and `code`)."""

    name = "oidc-provider"

    def start(self):
        ensure_peer()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(["node", os.path.join(PEER_DIR, "server.js"), str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(self.base + "/.well-known/openid-configuration", self.proc)
        return self

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


# --- a small HTTP/1.1 client --------------------------------------------------------------

class Http:
    """One keep-alive HTTP/1.1 connection on a raw socket, with a cookie jar (names, values and
    paths; everything here is one host). It parses only what the benchmarks need: the status,
    the headers and a Content-Length or chunked body. About a fifth of http.client's CPU per
    request, which matters when the load generator shares two cores with the server."""

    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.origin = f"http://{host}:{port}"
        self.host = f"Host: {host}:{port}\r\n"
        self.sock = None
        self.buf = b""
        self.cookies = {}  # name -> (value, path)

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock, self.buf = None, b""

    def _connect(self):
        self.sock = socket.create_connection(self.addr, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def path_of(self, location):
        """A Location as a path on this server (absolute URLs to it are cut to their path)."""
        return location[len(self.origin):] if location.startswith(self.origin) else location

    def request(self, method, path, body=None, headers=""):
        """Returns (status, headers by lower-case name, body bytes). `headers` is raw header
        lines, each ending in CRLF."""
        cookie = "; ".join(f"{k}={v}" for k, (v, p) in self.cookies.items() if path.startswith(p))
        head = f"{method} {path} HTTP/1.1\r\n{self.host}{headers}"
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(data)}\r\n\r\n"
            raw = head.encode() + data
        else:
            raw = (head + "\r\n").encode()
        if self.sock is None:
            self._connect()
        try:
            self.sock.sendall(raw)
            return self._response()
        except (ConnectionError, socket.timeout, OSError):
            self.close()
            raise

    def _recv(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buf += chunk

    def _response(self):
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4:]
        status = int(lines[0][9:12])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                self._set_cookie(value)
            else:
                headers[name] = value
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._recv()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while (eol := self.buf.find(b"\r\n")) < 0:
                    self._recv()
                size = int(self.buf[:eol].split(b";")[0], 16)
                while len(self.buf) < eol + 2 + size + 2:
                    self._recv()
                body += self.buf[eol + 2:eol + 2 + size]
                self.buf = self.buf[eol + 2 + size + 2:]
                if size == 0:
                    break
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _set_cookie(self, value):
        pair, *attrs = value.split(";")
        name, _, val = pair.strip().partition("=")
        path, gone = "/", val == ""
        for attr in attrs:
            k, _, v = attr.strip().partition("=")
            k = k.lower()
            if k == "path":
                path = v or "/"
            elif k == "max-age" and v.strip().lstrip("-").isdigit() and int(v) <= 0:
                gone = True
            elif k == "expires" and "1970" in v:
                gone = True
        if gone:
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = (val, path)


def hidden(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


def gatehouse_sign_in(c, start, email, password, redirect, steps=("login", "tenant", "approve", "consent")):
    """Walks Gatehouse's sign-in pages from `start` (an /authorize path) as tests/it/signin.rs
    `Browser::sign_in` does, and returns the Location that goes back to `redirect` (with the
    code). A page whose step is not in `steps` is an error."""
    status, headers, body = c.request("GET", start)
    for _ in range(12):
        location = headers.get("location")
        if location:
            if location.startswith(redirect):
                return location
            status, headers, body = c.request("GET", c.path_of(location))
            continue
        if status != 200:
            raise RuntimeError(f"sign-in page answered {status}: {body[:200]!r}")
        html = body.decode()
        form = {k: hidden(html, k) for k in ("request", "csrf", "action")}
        action = form["action"]
        if action not in steps:
            raise RuntimeError(f"unexpected sign-in step {action}")
        form.update({"login": {"email": email, "password": password}, "approve": {"decision": "approve"},
                     "consent": {"decision": "allow"}}.get(action, {}))
        tenant = hidden(html, "tenant")
        if tenant:
            form["tenant"] = tenant
        status, headers, body = c.request("POST", "/signin", urllib.parse.urlencode(form))
    raise RuntimeError("sign-in did not finish")


def code_from(location):
    return urllib.parse.parse_qs(urllib.parse.urlparse(location).query)["code"][0]
