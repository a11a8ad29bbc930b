"""The admin API against its own OpenAPI document, by tools that are not ours.

A partner's CI app (admin:partner) and an operator's app (admin:platform, approved with the
CLI as a platform administrator would) are made with the CLI; Authlib gets their tokens by
client_credentials, as their scripts would; then Schemathesis generates requests for every
operation in /api/v1/openapi.json (property-based, bounded) with each token and checks every
response against the document: no 5xx, only documented status codes, content types, headers
and schemas, and schema-invalid input refused. Left out: Schemathesis's check that
schema-valid input is accepted, since the server applies rules JSON Schema does not say
(redirect URI policy, key strength, unique names). One line per check.

Last, the server's log (JSON lines, CONF_SERVER_LOG) must name the calling app for every call,
reads included.

Usage: python3 api.py ISSUER   (CONF_GATEHOUSE_BIN, CONF_PARTNER, CONF_SERVER_LOG and
GATEHOUSE_DATABASE_URL set)
"""
import json
import os
import subprocess
import sys

from authlib.integrations.requests_client import OAuth2Session

issuer = sys.argv[1]
gatehouse = os.environ["CONF_GATEHOUSE_BIN"]
failed = 0


def check(name, fn):
    global failed
    try:
        detail = fn()
        print(f"ok   api: {name}" + (f" ({detail})" if detail else ""))
    except Exception as e:  # one line per check, whatever went wrong
        failed += 1
        print(f"FAIL api: {name}: {' '.join(str(e).split())[:2000]}")


def cli(*args):
    out = subprocess.run([gatehouse, "--json", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


state = {}


def make_apps():
    for scope in ("admin:partner", "admin:platform"):
        app = cli("app", "create", "--partner", os.environ["CONF_PARTNER"], "--template", "server-to-server",
                  "--name", f"API client ({scope})")
        client_id = app["app"]["client_id"]
        cli("app", "entitlement", client_id, scope)
        if scope == "admin:platform":
            cli("app", "decide", client_id, scope, "approve")
        state[scope] = (client_id, app["client_secret"]["secret"])


def tokens():
    seen = []
    for scope in ("admin:partner", "admin:platform"):
        client_id, secret = state[scope]
        session = OAuth2Session(client_id, secret, scope=scope)
        tok = session.fetch_token(f"{issuer}/token", grant_type="client_credentials")
        assert scope in tok["scope"].split(), tok
        state[f"{scope} token"] = tok["access_token"]
        apps = session.get(f"{issuer}/api/v1/apps", timeout=10)
        assert apps.status_code == 200, apps.text
        seen.append(f"{scope}: {len(apps.json()['items'])} apps")
    return ", ".join(seen)


def schemathesis(scope, *only):
    # Every operation (or those matching `only`), bounded: a few examples each.
    cmd = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{issuer}/api/v1/openapi.json",
        "--url", issuer,
        "--header", f"Authorization: Bearer {state[scope + ' token']}",
        "--checks", "all",
        "--exclude-checks", "positive_data_acceptance",
        *only,
        "--max-examples", os.environ.get("CONF_API_EXAMPLES", "25"),
        "--seed", "4711",
        "--request-timeout", "10",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    tail = "\n".join(out.stdout.strip().splitlines()[-40:])
    if os.environ.get("CONF_API_VERBOSE"):
        print(out.stdout)
    if out.returncode != 0:
        raise AssertionError(tail)
    summary = [l for l in out.stdout.splitlines() if "passed" in l or "cases" in l.lower()]
    return summary[-1].strip() if summary else "no failures"


check("a partner's CI app (admin:partner) and an operator's app (admin:platform, approved) made with the CLI", make_apps)
check("Authlib's OAuth2Session gets each app's token by client_credentials and lists apps with it", tokens)
check("Schemathesis with the admin:partner token: the app operations, every response checked against the document, no 5xx",
      lambda: schemathesis("admin:partner", "--include-path-regex", "^/api/v1/apps"))
check("Schemathesis with the admin:platform token: every operation, every response checked against the document, no 5xx",
      lambda: schemathesis("admin:platform"))


def every_call_logged():
    # One line per call naming the app, the operation and the status: reads too, which the
    # audit trail does not hold.
    calls = []
    with open(os.environ["CONF_SERVER_LOG"]) as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("target") == "gatehouse::api":
                calls.append(entry["fields"])
    assert calls, "no admin API call was logged"
    for scope in ("admin:partner", "admin:platform"):
        client_id = state[scope][0]
        mine = [c for c in calls if c.get("client_id") == client_id]
        assert any(c["method"] == "GET" and c["operation"] == "/api/v1/apps" and c["status"] == 200 for c in mine), \
            f"{scope}: no logged read of /api/v1/apps"
    anonymous = [c for c in calls if c.get("client_id") == "-"]
    assert all(c["status"] in (401, 403, 404, 405, 406, 415, 422, 200) for c in anonymous), anonymous[:3]
    return f"{len(calls)} calls logged, {len(calls) - len(anonymous)} naming their app"


check("every call is logged with the app that made it, reads included", every_call_logged)
print(f"api: {5 - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
