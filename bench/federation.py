#!/usr/bin/env python3
"""Federated sign-in latency (issue 20): what signing in through a tenant's upstream OpenID
Provider adds to a sign-in. Two Gatehouse release builds on loopback: ours (SQLite or
PostgreSQL) and an upstream (SQLite) whose tenant Corp has pat@corp.example; our tenant Bench1
signs in corp.example there. Each sign-in starts with empty cookie jars at GET /authorize and
ends at the app's redirect URI with a code, one at a time:

- password: bench@example.com on our login page (one Argon2id verification here);
- federated: pat@corp.example types only the address here, signs in with a password at the
  upstream (one Argon2id verification there), and comes back (code redeemed at the upstream,
  its ID token verified, the membership updated);
- federated, signed in upstream: the same with the upstream's session kept (single sign-on at
  the organisation: no password anywhere).

Consent and approvals are given by an untimed first sign-in of each person. Medians and p90 of
--samples sign-ins each, interleaved. Writes bench/federation-results.md.

    python3 bench/federation.py --samples 60 --backends sqlite,postgres
"""

import argparse
import html as htmllib
import os
import sqlite3
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

REDIRECT = "https://app.example.com/cb"
PASSWORD = "a long enough passphrase"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
CHALLENGE = common.pkce_challenge(VERIFIER)


class Agent:
    """A browser over common.Http: one keep-alive connection and cookie jar per origin."""

    def __init__(self, keep=None):
        self.clients = dict(keep or {})

    def client(self, origin):
        if origin not in self.clients:
            u = urllib.parse.urlsplit(origin)
            self.clients[origin] = common.Http(u.port, u.hostname)
        return self.clients[origin]

    def send(self, method, url, form=None):
        u = urllib.parse.urlsplit(url)
        origin = f"{u.scheme}://{u.netloc}"
        path = u.path + (f"?{u.query}" if u.query else "")
        body = None if form is None else urllib.parse.urlencode(form)
        status, headers, raw = self.client(origin).request(method, path, body)
        location = headers.get("location")
        return status, (urllib.parse.urljoin(url, location) if location else None), raw.decode(errors="replace")

    def walk(self, start, email, password_here, ours):
        """From `start` to the app's redirect URI; our login page gets `password_here`."""
        status, location, page = self.send("GET", start)
        url = start
        for _ in range(20):
            if location:
                if location.startswith(REDIRECT):
                    return location
                url = location
                status, location, page = self.send("GET", url)
                continue
            if status != 200:
                raise RuntimeError(f"{url}: {status}: {page[:300]!r}")
            marker = 'id="upstream" href="'
            if marker in page:
                rest = page[page.index(marker) + len(marker):]
                location = htmllib.unescape(rest[:rest.index('"')])
                continue
            password = password_here if url.startswith(ours) else PASSWORD
            form = common.harness.signin_form(page, email, password)
            url = urllib.parse.urljoin(url, "/signin")
            status, location, page = self.send("POST", url, form)
        raise RuntimeError("the sign-in did not finish")


def authorize_url(base, client_id):
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT,
                                "scope": "openid", "state": "s", "code_challenge": CHALLENGE,
                                "code_challenge_method": "S256"})
    return f"{base}/authorize?{q}"


def setup(ours, upstream):
    cli = upstream.cli
    partner = cli("partner", "add", "--name", "Corp IT")["id"]
    cli("tenant", "add", "--ctx", "Corp", "--name", "Corp", "--partner", partner, "--mfa", "off")
    cli("user", "add", "--email", "pat@corp.example", "--tenant", "Corp", "--password-stdin", stdin=PASSWORD + "\n")
    app = cli("app", "create", "--partner", partner, "--template", "web", "--name", "Our Gatehouse",
              "--redirect-uri", f"{ours.base}/signin/federated")
    up_id, up_secret = app["app"]["client_id"], app["client_secret"]["secret"]
    cli("tenant", "approve", "--ctx", "Corp", "--client-id", up_id)
    # The upstream vouches for Pat's address (its verification link is mailed; here, directly).
    with sqlite3.connect(f"{upstream.dir}/gatehouse.db") as db:
        db.execute("UPDATE users SET email_verified_at = 1 WHERE email = 'pat@corp.example'")

    cli = ours.cli
    partner = cli("partner", "add", "--name", "Bench")["id"]
    cli("tenant", "add", "--ctx", "Bench1", "--name", "Bench", "--partner", partner, "--mfa", "off")
    cli("user", "add", "--email", "bench@example.com", "--tenant", "Bench1", "--password-stdin", stdin=PASSWORD + "\n")
    app = cli("app", "create", "--partner", partner, "--template", "web", "--name", "Bench web", "--redirect-uri", REDIRECT)
    client_id = app["app"]["client_id"]
    cli("tenant", "approve", "--ctx", "Bench1", "--client-id", client_id)
    cli("tenant", "idp", "add", "--ctx", "Bench1", "--issuer", upstream.base, "--client-id", up_id,
        "--domain", "corp.example", stdin=up_secret)
    return client_id


def run(backend, samples):
    upstream = common.Gatehouse("sqlite")
    ours = common.Gatehouse(backend)
    ours.env["GATEHOUSE_OUTBOUND_ALLOW_PRIVATE_NETWORKS"] = "true"
    upstream.start()
    ours.start()
    try:
        client_id = setup(ours, upstream)
        start = authorize_url(ours.base, client_id)
        # Untimed: each person's consent here and at the upstream, and a warm cache.
        Agent().walk(start, "bench@example.com", PASSWORD, ours.base)
        Agent().walk(start, "pat@corp.example", "", ours.base)
        signed_in_upstream = Agent()
        signed_in_upstream.walk(start, "pat@corp.example", "", ours.base)
        upstream_jar = {o: c for o, c in signed_in_upstream.clients.items() if o == upstream.base}
        kinds = {
            "password": lambda: Agent().walk(start, "bench@example.com", PASSWORD, ours.base),
            "federated": lambda: Agent().walk(start, "pat@corp.example", "", ours.base),
            "federated, signed in upstream": lambda: Agent(upstream_jar).walk(start, "pat@corp.example", "", ours.base),
        }
        times = {k: [] for k in kinds}
        for _ in range(samples):
            for kind, sign_in in kinds.items():
                t0 = time.perf_counter()
                location = sign_in()
                times[kind].append((time.perf_counter() - t0) * 1000)
                assert "code=" in location, location
        return times
    finally:
        ours.stop()
        upstream.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=60)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--out", default=os.path.join(common.ROOT, "bench", "federation-results.md"))
    args = ap.parse_args()
    common.ensure_release_build()
    rows = []
    for backend in args.backends.split(","):
        times = run(backend, args.samples)
        base = common.percentile(times["password"], 50)
        for kind, ms in times.items():
            p50, p90 = common.percentile(ms, 50), common.percentile(ms, 90)
            rows.append(f"| {backend} | {kind} | {p50:.1f} | {p90:.1f} | {p50 - base:+.1f} |")
            print(rows[-1], flush=True)
    with open(args.out, "w") as f:
        f.write("# Federated sign-in latency (issue 20)\n\n")
        f.write(f"`python3 bench/federation.py --samples {args.samples}` on {time.strftime('%Y-%m-%d')}, release build of "
                f"{common.source_version()}, 2 cores shared by both servers and the client; one sign-in at a time, "
                "from GET /authorize with empty cookie jars to the redirect with the code. Our server on the database "
                "named, the upstream on SQLite; both verify passwords with Argon2id (m=19456 KiB, t=2, p=1).\n\n")
        f.write("| our database | sign-in | p50 ms | p90 ms | p50 vs password |\n|---|---|--:|--:|--:|\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    sys.exit(main())
