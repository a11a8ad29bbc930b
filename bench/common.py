"""Shared by the load benchmarks in bench/: the release build, starting Gatehouse (SQLite or a
fresh PostgreSQL database) and the peer (panva's oidc-provider in bench/peer), CPU and memory
accounting from /proc, waiting for a quiet machine, a small keep-alive HTTP client with a
cookie jar, and the walk through Gatehouse's sign-in pages over it. What the fault scenarios
need too (ports, server processes, readiness, form POSTs, the sign-in pages, psql, percentiles)
is pytools/gatehouse_harness.py; the names the scripts here use from it are re-exported."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pytools"))
import gatehouse_harness as harness  # noqa: E402
# Re-exported for the scripts in bench/, which import them from here.
from gatehouse_harness import (b64url, basic, code_from, form_post, free_port, hidden, percentile,  # noqa: E402,F401
                               pkce_challenge, spawn_gatehouse)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# GATEHOUSE_BENCH_BIN names another build (a copy of an earlier commit's, for a before/after).
BIN = os.environ.get("GATEHOUSE_BENCH_BIN") or os.path.join(ROOT, "target", "release", "gatehouse")
PEER_DIR = os.path.join(ROOT, "bench", "peer")
TICK = os.sysconf("SC_CLK_TCK")
PG_BASE = os.environ.get("GATEHOUSE_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def wait_ready(url, proc, seconds=30):
    # A server that does not come up ends the whole run: every figure after it would be wrong.
    try:
        harness.wait_ready(url, proc, seconds)
    except harness.NotReady as e:
        raise SystemExit(str(e)) from None


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
    return ticks_of("postgres")


def ticks_of(name):
    """CPU ticks of every running process named `name`."""
    total = 0
    for pid, _, comm in processes():
        if comm == name:
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
    if os.environ.get("GATEHOUSE_BENCH_BIN") or (os.path.exists(BIN) and os.path.getmtime(BIN) >= newest_source_mtime()):
        return
    wait_for_builds()
    print("building the release binary (cargo build --release --bin gatehouse)", flush=True)
    sh("cargo", "build", "--quiet", "--release", "--bin", "gatehouse", cwd=ROOT)


def source_version():
    """The commit the sources are at, and whether src/ has changes not committed."""
    if os.environ.get("GATEHOUSE_BENCH_BIN"):
        return f"the build {os.path.basename(BIN)} (GATEHOUSE_BENCH_BIN)"
    try:
        commit = sh("git", "rev-parse", "--short", "HEAD", cwd=ROOT).strip()
        dirty = sh("git", "status", "--porcelain", "--", "src", "migrations", "Cargo.toml", "Cargo.lock", cwd=ROOT).strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"{commit}{' with uncommitted changes in src/' if dirty else ''}"


def ensure_peer():
    if not os.path.isdir(os.path.join(PEER_DIR, "node_modules")):
        sh("npm", "ci", "--no-audit", "--no-fund", cwd=PEER_DIR)


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
            self.pg_name = f"gatehouse_bench_{os.getpid()}_{self.port}"
            self.db = harness.fresh_postgres(f"{PG_BASE}/postgres", self.pg_name)
        self.env = harness.gatehouse_env(self.db, f"{self.dir}/keys", log)

    def cli(self, *args, stdin=None):
        return harness.run_cli(BIN, self.env, *args, stdin=stdin, cwd=self.dir)

    def start(self):
        self.proc = spawn_gatehouse(BIN, self.env, self.port, output=self.output, cwd=self.dir)
        wait_ready(self.base + "/readyz", self.proc)
        return self

    def stop(self):
        harness.stop_process(self.proc, timeout=30, kill=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        if hasattr(self, "pg_name"):
            harness.drop_postgres(f"{PG_BASE}/postgres", self.pg_name)


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
        harness.stop_process(self.proc, timeout=30, kill=False)


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


def gatehouse_sign_in(c, start, email, password, redirect, steps=("login", "tenant", "approve", "consent")):
    """Walks Gatehouse's sign-in pages from `start` (an /authorize path) over the Http client
    `c` (its cookie jar keeps the session) as tests/it/signin.rs `Browser::sign_in` does, and
    returns the Location that goes back to `redirect` (with the code). A page whose step is not
    in `steps` is an error."""
    def send(method, path, form):
        body = None if form is None else urllib.parse.urlencode(form)
        status, headers, raw = c.request(method, c.path_of(path), body)
        return status, headers.get("location"), raw.decode(errors="replace")
    location, _ = harness.walk_sign_in(send, start, redirect, email, password, steps=steps, hops=12)
    return location
