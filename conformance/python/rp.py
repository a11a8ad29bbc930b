#!/usr/bin/env python3
"""Authlib (an independent OAuth/OIDC client library) against Gatehouse, through discovery and
dynamic registration only. The relying party lives on another origin: this script runs its own
callback listener on 127.0.0.1 on a free port (not the server's), and a real headless Chromium
(Selenium with Debian's /usr/bin/chromium and /usr/bin/chromedriver; nothing is downloaded)
walks the pages a person sees. The listener also serves the client's public keys at /jwks.json
(a registered jwks_uri). Prints one line per check.

    python3 rp.py ISSUER INITIAL_ACCESS_TOKEN ADMIN_EMAIL ADMIN_PASSWORD

ADMIN_EMAIL administers a tenant that has not approved this script's (new) client.
Environment (set by conformance/run):
    CONF_MEMBER_EMAIL, CONF_MEMBER_PASSWORD  a plain member (not administrator) of the
                                             administrator's tenant
    CONF_MULTI_EMAIL, CONF_MULTI_PASSWORD    a member of two tenants, administrator of
    CONF_MULTI_TENANT                        CONF_MULTI_TENANT, the one the browser picks
    CHROMIUM, CHROMEDRIVER                   default /usr/bin/chromium, /usr/bin/chromedriver
"""

import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse

import requests
from authlib.common.encoding import json_loads, urlsafe_b64decode
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ISSUER, INITIAL, ADMIN_EMAIL, ADMIN_PASSWORD = sys.argv[1:5]
ADMIN = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
MEMBER = {"email": os.environ.get("CONF_MEMBER_EMAIL"), "password": os.environ.get("CONF_MEMBER_PASSWORD")}
MULTI = {"email": os.environ.get("CONF_MULTI_EMAIL"), "password": os.environ.get("CONF_MULTI_PASSWORD"),
         "tenant": os.environ.get("CONF_MULTI_TENANT")}
CTX_CLAIM = "http://schemes.superoffice.net/identity/ctx"
HTTP_TIMEOUT = 20
passed = failed = 0


def watchdog():
    print("FAIL python: the script did not finish within 10 minutes", flush=True)
    os._exit(1)


# Nothing may hang a CI run: the whole script is bounded too.
_timer = threading.Timer(600, watchdog)
_timer.daemon = True
_timer.start()


def check(name):
    def run(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok   python: {name}", flush=True)
        except Exception as e:  # one line per failed check, then go on
            failed += 1
            print(f"FAIL python: {name}: " + " ".join(f"{e!r}".split()), flush=True)
    return run


def refused(fn, code):
    """`fn` must fail with this OAuth error code (Authlib's parsed error)."""
    try:
        fn()
    except Exception as e:
        got = getattr(e, "error", None) or str(e)
        assert got == code, f"expected {code}, got {got}: {e!r}"
        return
    raise AssertionError(f"accepted, expected {code}")


# ------------------------------------------------------------------------------------------------
# The relying party's own HTTP listener, on another origin than the server. It records what
# reaches it (a query, a form_post body, or nothing but the path for a fragment response), and
# serves the relying party's public keys at /jwks.json (its registered jwks_uri).
class Listener(http.server.BaseHTTPRequestHandler):
    hits = []
    lock = threading.Lock()
    jwks = {"keys": []}  # what /jwks.json serves; a check rotates it

    def _record(self, body):
        u = urllib.parse.urlsplit(self.path)
        with self.lock:
            self.hits.append({"method": self.command, "path": u.path, "query": u.query, "body": body, "at": time.monotonic()})
            jwks = json.dumps(self.jwks)
        if u.path == "/jwks.json":
            self._send("application/json", jwks.encode())
            return
        title = "Signed out · RP" if u.path == "/bye" else "Callback · RP"
        page = f"<!doctype html><html><head><title>{title}</title></head><body><p>{self.command} {u.path}</p></body></html>"
        self._send("text/html; charset=utf-8", page.encode())

    def _send(self, content_type, data):
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("cache-control", "no-store")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._record("")

    def do_POST(self):
        length = min(int(self.headers.get("content-length") or 0), 65536)
        self._record(self.rfile.read(length).decode("utf-8", "replace"))

    def log_message(self, *args):
        pass


listener = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
listener.daemon_threads = True
threading.Thread(target=listener.serve_forever, daemon=True).start()
RP = f"http://127.0.0.1:{listener.server_address[1]}"
REDIRECT, POST_LOGOUT, JWKS_URI = RP + "/cb", RP + "/bye", RP + "/jwks.json"


def hits_since(n):
    with Listener.lock:
        return list(Listener.hits[n:])


# ------------------------------------------------------------------------------------------------
# The browser: one Chromium for the whole script; deleting its cookies makes a new person.
PAGES = {
    "Sign in · Gatehouse": "login",
    "Choose a tenant · Gatehouse": "tenant",
    "Approve this app for your tenant · Gatehouse": "approve",
    "Allow access? · Gatehouse": "consent",
}
ERROR_PAGE = "Something is not right · Gatehouse"
driver = None
profile = tempfile.mkdtemp(prefix="gatehouse-rp-chromium-")


def start_browser():
    global driver
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)


def console_csp():
    try:
        return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    except WebDriverException:
        return []


def new_person():
    """Forget whoever was signed in: delete the browser's cookies (host cookies of 127.0.0.1).
    A browser call here has been seen to fail once without a message on a loaded machine, so a
    failed attempt is tried again (three at most)."""
    for attempt in range(3):
        try:
            driver.get(ISSUER + "/healthz")
            driver.delete_all_cookies()
            left = driver.get_cookies()
            break
        except WebDriverException as e:
            if attempt == 2:
                raise
            print(f"note python: a browser call failed ({type(e).__name__} {e.msg or ''}); trying again", flush=True)
            time.sleep(1)
    assert left == [], left


def safe(fn, default=""):
    try:
        return fn()
    except WebDriverException:
        return default


class Walk:
    pass


def walk(url, person=None, tenant=None, allow=(), path="/cb", timeout=45):
    """Opens `url` and answers Gatehouse's pages as `person` would until the browser lands on the
    RP's `path`. `allow` lists the pages that may appear (any other is a failure); `tenant` is
    the ctx to pick on the tenant page. Returns the pages seen, the RP listener's record and the
    browser's URL there (which keeps a fragment the listener never sees)."""
    start, seen, title, note = len(Listener.hits), [], "", ""
    deadline = time.monotonic() + timeout
    try:
        driver.get(url)
    except WebDriverException as e:
        note = f"; {e.msg}"
    while time.monotonic() < deadline:
        hit = next((h for h in hits_since(start) if h["path"] == path), None)
        at = safe(lambda: driver.current_url)
        if hit and at.startswith(RP + path):
            w = Walk()
            w.pages, w.hit, w.url = seen, hit, at
            return w
        title = safe(lambda: driver.title)
        if title == ERROR_PAGE:
            why = safe(lambda: driver.find_element(By.CSS_SELECTOR, ".error").text)
            raise AssertionError(f"Gatehouse error page after {seen}: {why} (at {at})")
        step = PAGES.get(title)
        if step is None:
            time.sleep(0.1)
            continue
        assert step in allow, f'unexpected page "{title}" after {seen}'
        assert len(seen) < 8, f"too many pages: {seen}"
        try:
            body = answer(step, person, tenant)
        except WebDriverException as e:
            # The page changed under us (still loading, or navigated on; on a loaded machine
            # this happens): read it again until the deadline, and say why if it never settles.
            note = f"; last browser error: {type(e).__name__} {e.msg or ''}"
            time.sleep(0.2)
            continue
        seen.append(step)
        try:
            WebDriverWait(driver, 15, poll_frequency=0.1).until(EC.staleness_of(body))
        except TimeoutException:
            csp = console_csp()
            raise AssertionError(f'answering "{title}" did not leave the page' + (f" (console: {csp})" if csp else ""))
        except WebDriverException as e:
            note = f"; last browser error: {type(e).__name__} {e.msg or ''}"
            continue  # the browser answered the wait with an error: read the page again
    csp = console_csp()
    raise AssertionError(f"the browser did not reach {RP}{path} within {timeout}s; pages {seen}, last "
                         f'"{title}" at {safe(lambda: driver.current_url)}{note}' + (f"; console: {csp}" if csp else ""))


def answer(step, person, tenant):
    """Fills in and submits one of Gatehouse's pages; returns the page's body element, whose
    going stale tells that the next page arrived. Raises if the page changed meanwhile."""
    body = driver.find_element(By.TAG_NAME, "body")
    if step == "login":
        errors = driver.find_elements(By.CSS_SELECTOR, ".error")
        assert not errors, f"the login page says: {errors[0].text}"
        driver.find_element(By.CSS_SELECTOR, "#email").clear()
        driver.find_element(By.CSS_SELECTOR, "#email").send_keys(person["email"])
        driver.find_element(By.CSS_SELECTOR, "#password").send_keys(person["password"])
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    elif step == "tenant":
        driver.find_element(By.CSS_SELECTOR, f'input[name=tenant][value="{tenant}"]').click()
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    elif step == "approve":
        driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    else:
        driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
    return body


def response_of(w):
    """The authorization response as the RP received it (query, fragment or form_post body)."""
    if w.hit["method"] == "POST":
        return dict(urllib.parse.parse_qsl(w.hit["body"]))
    fragment = urllib.parse.urlsplit(w.url).fragment
    return dict(urllib.parse.parse_qsl(fragment or w.hit["query"]))


S = {}  # what the checks share


def authorize(mode=None, prompt=None, max_age=None, scope="openid profile email", other_verifier=False, **walk_opts):
    """One authorization request in the browser; `w.redeem()` hands the response to Authlib."""
    c, md = S["client"], S["md"]
    verifier, nonce, state = generate_token(48), generate_token(20), generate_token(20)
    extra = {k: v for k, v in (("response_mode", mode), ("prompt", prompt), ("max_age", max_age)) if v is not None}
    url, _ = c.create_authorization_url(md["authorization_endpoint"], state=state, scope=scope, nonce=nonce,
                                        code_verifier=generate_token(48) if other_verifier else verifier, **extra)
    w = walk(url, **walk_opts)
    w.params = response_of(w)

    def redeem():
        # The callback URL an RP would see (for a fragment or form_post, what its page sent back).
        callback = REDIRECT + "?" + urllib.parse.urlencode(w.params)
        token = c.fetch_token(md["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier)
        return token, id_claims(token, nonce, max_age)
    w.redeem = redeem
    return w


def id_claims(token, nonce, max_age=None):
    """The ID token, validated by Authlib's OIDC claims class (iss, aud, azp, exp, iat, nonce,
    at_hash, auth_time when max_age was asked)."""
    client_id = S["reg"]["client_id"]
    claims = jwt.decode(token["id_token"], S["jwks"], claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": ISSUER},
                                        "aud": {"essential": True, "value": client_id}},
                        claims_params={"nonce": nonce, "client_id": client_id,
                                       "access_token": token["access_token"], "max_age": max_age})
    claims.validate(now=int(time.time()), leeway=30)
    assert claims["nonce"] == nonce, "nonce"
    if max_age is not None:
        assert claims["auth_time"] + max_age + 30 >= time.time(), f"auth_time {claims['auth_time']} too old"
    return claims


def same_pages(w, want):
    assert w.pages == want, f"pages {w.pages}, expected {want}"


def rsa_key(kid):
    """A new RSA key pair that carries its own kid (JsonWebKey puts it in the JWS header)."""
    return JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": kid})


def recorded(session):
    """Records every response `session` receives (its status and the request that was sent)."""
    session.sent = []
    session.hooks["response"].append(lambda r, *args, **kwargs: session.sent.append(r))
    return session


def key_session(client_id, key, **kwargs):
    """An Authlib session that authenticates with private_key_jwt at the token, introspection
    and revocation endpoints, as Authlib's docs register it."""
    session = recorded(OAuth2Session(client_id, key, token_endpoint_auth_method="private_key_jwt",
                                     revocation_endpoint_auth_method="private_key_jwt", default_timeout=HTTP_TIMEOUT, **kwargs))
    session.register_client_auth_method(PrivateKeyJWT(S["md"]["token_endpoint"]))
    return session


def assertion_header(response):
    """The JOSE header of the client assertion the request of `response` carried."""
    form = dict(urllib.parse.parse_qsl(response.request.body or ""))
    assert "client_assertion" in form, f"no client_assertion sent: {sorted(form)}"
    return json_loads(urlsafe_b64decode(form["client_assertion"].split(".")[0].encode()))


def register(metadata):
    res = requests.post(S["md"]["registration_endpoint"], headers={"Authorization": f"Bearer {INITIAL}"},
                        json=metadata, timeout=HTTP_TIMEOUT)
    assert res.status_code == 201, f"{res.status_code} {res.text}"
    return res.json()


def key_client(key, **metadata):
    """Registers a client_credentials client for private_key_jwt with `metadata` (its keys)."""
    reg = register({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "private_key_jwt",
                    **metadata})
    assert "client_secret" not in reg, f"a private_key_jwt client was given a client_secret: {sorted(reg)}"
    assert reg.get("token_endpoint_auth_method") == "private_key_jwt", reg.get("token_endpoint_auth_method")
    return reg, key_session(reg["client_id"], key, scope="webapi")


def key_token(session, kid):
    """Client credentials with private_key_jwt: 200, and the assertion named `kid`."""
    try:
        token = session.fetch_token(S["md"]["token_endpoint"], grant_type="client_credentials")
    except Exception as e:
        res = session.sent[-1] if session.sent else None
        raise AssertionError(f"{e!r}: {res.status_code} {res.text}" if res is not None else repr(e)) from None
    res = session.sent[-1]
    assert res.status_code == 200 and token.get("access_token"), f"{res.status_code} {res.text}"
    header = assertion_header(res)
    assert header.get("kid") == kid and header.get("alg") == "RS256", f"assertion header {header}"
    return token


def jwks_fetches():
    return [h for h in hits_since(0) if h["path"] == "/jwks.json"]


def serve_keys(*keys):
    with Listener.lock:
        Listener.jwks = {"keys": [k.as_dict(is_private=False) for k in keys]}


# ------------------------------------------------------------------------------------------------
@check("headless Chromium starts")
def _():
    start_browser()


@check("discovery: RFC 8414 metadata and both OpenID configurations validated by Authlib; JWKS shape")
def _():
    docs = {}
    for path, model in (("/.well-known/oauth-authorization-server", AuthorizationServerMetadata),
                        ("/.well-known/openid-configuration", OpenIDProviderMetadata),
                        ("/login/.well-known/openid-configuration", OpenIDProviderMetadata)):
        res = requests.get(ISSUER + path, timeout=HTTP_TIMEOUT)
        assert res.status_code == 200, f"{path}: {res.status_code}"
        doc = res.json()
        try:
            model(doc).validate()
        except ValueError as e:
            raise AssertionError(f"{path}: {model.__name__}.validate(): {e}") from None
        docs[path] = doc
    md = docs["/.well-known/openid-configuration"]
    assert md["issuer"] == ISSUER, md["issuer"]
    jwks = requests.get(md["jwks_uri"], timeout=HTTP_TIMEOUT).json()
    assert jwks["keys"] and all("kid" in k and "d" not in k for k in jwks["keys"])
    S["md"], S["jwks"] = md, JsonWebKey.import_key_set(jwks)


@check(f"dynamic registration of {REDIRECT} (another origin than the server)")
def _():
    res = requests.post(S["md"]["registration_endpoint"], headers={"Authorization": f"Bearer {INITIAL}"}, timeout=HTTP_TIMEOUT,
                        json={"redirect_uris": [REDIRECT], "post_logout_redirect_uris": [POST_LOGOUT],
                              "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                              "response_types": ["code"], "client_name": "Authlib conformance",
                              "token_endpoint_auth_method": "client_secret_post"})
    assert res.status_code == 201, res.text
    reg = res.json()
    assert reg.get("token_endpoint_auth_method") == "client_secret_post", reg.get("token_endpoint_auth_method")
    # The method registered, at every endpoint: Authlib revokes with client_secret_basic unless
    # told otherwise, and the server holds a client to the one method it registered.
    S["client"] = OAuth2Session(reg["client_id"], reg["client_secret"], redirect_uri=REDIRECT, default_timeout=HTTP_TIMEOUT,
                                token_endpoint_auth_method="client_secret_post",
                                revocation_endpoint_auth_method="client_secret_post", code_challenge_method="S256")
    S["reg"] = reg


# Client authentication with the client's own keys (RFC 7523 section 2.2, RFC 7591 section 2):
# no browser involved. The jwks_uri client's first fetch happens here, well over 30 s before the
# rotation check at the end of the script needs the server to fetch again.
@check("private_key_jwt with the client's own kid (jwks): no client_secret; client credentials with Authlib's PrivateKeyJWT")
def _():
    S["key1"] = rsa_key("authlib-k1")
    reg, session = key_client(S["key1"], client_name="Authlib private_key_jwt", jwks={"keys": [S["key1"].as_dict(is_private=False)]})
    S["keyed"] = (reg, session, key_token(session, "authlib-k1"))


@check("introspection with private_key_jwt: active")
def _():
    reg, session, token = S["keyed"]
    res = session.introspect_token(S["md"]["introspection_endpoint"], token=token["access_token"])
    assert res.status_code == 200, f"{res.status_code} {res.text}"
    assert assertion_header(res).get("kid") == "authlib-k1", assertion_header(res)
    body = res.json()
    assert body.get("active") is True and body.get("client_id") == reg["client_id"], body


@check("revocation with private_key_jwt; the token is then inactive")
def _():
    reg, session, token = S["keyed"]
    res = session.revoke_token(S["md"]["revocation_endpoint"], token=token["access_token"])
    assert res.status_code == 200, f"{res.status_code} {res.text}"
    assert assertion_header(res).get("kid") == "authlib-k1", assertion_header(res)
    body = session.introspect_token(S["md"]["introspection_endpoint"], token=token["access_token"]).json()
    assert body.get("active") is False, body


@check(f"private_key_jwt with keys at jwks_uri {JWKS_URI} (the RP's listener): client credentials; the server fetched the set")
def _():
    serve_keys(S["key1"])
    before = len(jwks_fetches())
    reg, session = key_client(S["key1"], client_name="Authlib jwks_uri", jwks_uri=JWKS_URI)
    assert reg.get("jwks_uri") == JWKS_URI, reg.get("jwks_uri")
    key_token(session, "authlib-k1")
    assert len(jwks_fetches()) > before, "the server never fetched the jwks_uri"
    S["jwks_uri_client"] = reg


# Before any administrator has signed in: the tenant has not approved this new client.
@check("a plain member of a tenant that has not approved the app gets access_denied at the RP")
def _():
    assert MEMBER["email"] and MEMBER["password"], "CONF_MEMBER_EMAIL / CONF_MEMBER_PASSWORD are not set"
    new_person()
    w = authorize(person=MEMBER, allow=("login",))
    same_pages(w, ["login"])
    assert w.params.get("error") == "access_denied", w.hit


@check("first sign-in in Chromium: login, approval, consent, then the code at the cross-origin RP (query); ID token validated")
def _():
    new_person()
    w = authorize(person=ADMIN, allow=("login", "approve", "consent"))
    same_pages(w, ["login", "approve", "consent"])
    assert w.hit["method"] == "GET" and "code" in dict(urllib.parse.parse_qsl(w.hit["query"])), w.hit
    assert w.params.get("iss") == ISSUER, w.params
    S["first"], (S["token"], S["claims"]) = w, w.redeem()
    assert S["token"].get("refresh_token"), "no refresh token"


@check("code replay is invalid_grant and revokes what the code gave")
def _():
    refused(S["first"].redeem, "invalid_grant")
    res = S["client"].introspect_token(S["md"]["introspection_endpoint"], token=S["token"]["access_token"]).json()
    assert res.get("active") is False, f"the first access token is still active: {res}"


@check("response_mode=fragment: the code reaches the RP page in the fragment only; ID token validated")
def _():
    w = authorize(mode="fragment")
    same_pages(w, [])
    assert w.hit["query"] == "", f"the RP server saw a query: {w.hit['query']}"
    assert "code" in w.params, w.url
    _, claims = w.redeem()
    assert claims["sub"] == S["claims"]["sub"], "same person"


@check("response_mode=form_post: the RP receives a POST with the code; ID token validated")
def _():
    w = authorize(mode="form_post")
    same_pages(w, [])
    assert w.hit["method"] == "POST" and "code" in w.params, w.hit
    S["form_post_token"], _ = w.redeem()


@check("prompt=none with a live session: a code without any page")
def _():
    w = authorize(prompt="none")
    same_pages(w, [])
    assert "code" in w.params, w.hit
    S["live"], _ = w.redeem()
    assert S["live"].get("refresh_token"), "no refresh token"


@check("prompt=login: the login page again although signed in; auth_time is fresh")
def _():
    before = int(time.time())
    w = authorize(prompt="login", person=ADMIN, allow=("login",))
    same_pages(w, ["login"])
    S["latest"], claims = w.redeem()
    assert claims["auth_time"] >= before, f"auth_time {claims['auth_time']} < {before}"
    S["auth_time"] = claims["auth_time"]


@check("prompt=consent: the consent page again (then form_post to the RP)")
def _():
    w = authorize(prompt="consent", mode="form_post", allow=("consent",))
    same_pages(w, ["consent"])
    assert w.hit["method"] == "POST", w.hit
    w.redeem()


@check("max_age=1 after 2 s: the login page again; auth_time fresh and checked")
def _():
    last = S.get("auth_time", int(time.time()))
    while int(time.time()) <= last + 2:  # bounded: at most about 3 s
        time.sleep(0.2)
    before = int(time.time())
    w = authorize(max_age=1, person=ADMIN, allow=("login",))
    same_pages(w, ["login"])
    S["latest"], claims = w.redeem()
    assert claims["auth_time"] >= before, f"auth_time {claims['auth_time']} < {before}"


@check("userinfo")
def _():
    user = OAuth2Session(S["reg"]["client_id"], token=S["live"], default_timeout=HTTP_TIMEOUT)
    res = user.get(S["md"]["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
    assert res.status_code == 200, f"{res.status_code} {res.headers.get('www-authenticate')}"
    info = res.json()
    assert info["email"] == ADMIN["email"], info


@check("refresh rotates the refresh token")
def _():
    old = S["live"]["refresh_token"]
    token = S["client"].refresh_token(S["md"]["token_endpoint"], refresh_token=old)
    assert token.get("access_token"), token
    assert token.get("refresh_token") and token["refresh_token"] != old, "the refresh token did not change"
    S["rotated"] = token


@check("introspection of the refresh token is active (RFC 7662 §2.2)")
def _():
    res = S["client"].introspect_token(S["md"]["introspection_endpoint"], token=S["rotated"]["refresh_token"]).json()
    assert res.get("active") is True, res


@check("reusing the rotated-out refresh token is refused with invalid_grant")
def _():
    assert "rotated" in S, "no rotation to test"
    refused(lambda: S["client"].refresh_token(S["md"]["token_endpoint"], refresh_token=S["live"]["refresh_token"]),
            "invalid_grant")


@check("PKCE mismatch is invalid_grant")
def _():
    w = authorize(other_verifier=True)
    refused(w.redeem, "invalid_grant")


@check("a redirect URI that is not registered is never redirected to")
def _():
    start = len(Listener.hits)
    q = {"response_type": "code", "client_id": S["reg"]["client_id"], "redirect_uri": RP + "/elsewhere", "scope": "openid",
         "state": "s", "code_challenge_method": "S256",
         "code_challenge": create_s256_code_challenge(generate_token(48))}
    url = S["md"]["authorization_endpoint"] + "?" + urllib.parse.urlencode(q)
    driver.get(url)
    assert driver.title == ERROR_PAGE, f'"{driver.title}" at {driver.current_url}'
    time.sleep(0.3)
    assert not [h for h in hits_since(start) if h["path"] == "/elsewhere"], "the RP was called"
    q["redirect_uri"] = "https://evil.example.test/cb"
    res = requests.get(S["md"]["authorization_endpoint"] + "?" + urllib.parse.urlencode(q), allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert res.status_code == 400 and "location" not in res.headers, res.status_code


@check("client credentials")
def _():
    c = OAuth2Session(S["reg"]["client_id"], S["reg"]["client_secret"], scope="webapi", token_endpoint_auth_method="client_secret_post",
                      default_timeout=HTTP_TIMEOUT)
    token = c.fetch_token(S["md"]["token_endpoint"], grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token


@check("introspection")
def _():
    res = S["client"].introspect_token(S["md"]["introspection_endpoint"], token=S["form_post_token"]["access_token"]).json()
    assert res["active"] is True and res.get("client_id") == S["reg"]["client_id"], res


@check("revocation")
def _():
    res = S["client"].revoke_token(S["md"]["revocation_endpoint"], token=S["form_post_token"]["access_token"])
    assert res.status_code == 200, f"{res.status_code} {res.text}"
    res = S["client"].introspect_token(S["md"]["introspection_endpoint"], token=S["form_post_token"]["access_token"]).json()
    assert res["active"] is False, res


@check("wrong secret is 401 invalid_client")
def _():
    # With the method the client registered (client_secret_post), so only the secret is wrong.
    c = recorded(OAuth2Session(S["reg"]["client_id"], "wrong", scope="webapi", token_endpoint_auth_method="client_secret_post",
                               default_timeout=HTTP_TIMEOUT))
    refused(lambda: c.fetch_token(S["md"]["token_endpoint"], grant_type="client_credentials"), "invalid_client")
    assert c.sent[-1].status_code == 401, f"{c.sent[-1].status_code} {c.sent[-1].text}"


@check("a client registered for client_secret_basic (the default) is refused with 401 invalid_client when it uses client_secret_post")
def _():
    reg = register({"grant_types": ["client_credentials"], "response_types": [], "client_name": "Authlib basic"})
    assert reg.get("token_endpoint_auth_method") == "client_secret_basic", reg.get("token_endpoint_auth_method")
    post = recorded(OAuth2Session(reg["client_id"], reg["client_secret"], scope="webapi", token_endpoint_auth_method="client_secret_post",
                                  default_timeout=HTTP_TIMEOUT))
    refused(lambda: post.fetch_token(S["md"]["token_endpoint"], grant_type="client_credentials"), "invalid_client")
    assert post.sent[-1].status_code == 401, f"{post.sent[-1].status_code} {post.sent[-1].text}"
    # The same secret with the registered method (Authlib's default, client_secret_basic) works.
    basic = OAuth2Session(reg["client_id"], reg["client_secret"], scope="webapi", default_timeout=HTTP_TIMEOUT)
    assert basic.fetch_token(S["md"]["token_endpoint"], grant_type="client_credentials").get("access_token")


@check("unsupported grant is unsupported_grant_type")
def _():
    res = requests.post(S["md"]["token_endpoint"], data={"grant_type": "password", "username": "a", "password": "b",
                        "client_id": S["reg"]["client_id"], "client_secret": S["reg"]["client_secret"]}, timeout=HTTP_TIMEOUT)
    assert res.status_code == 400 and res.json()["error"] == "unsupported_grant_type", res.text


@check("RP-initiated logout in Chromium: back at the RP /bye with the state")
def _():
    state = generate_token(20)
    q = urllib.parse.urlencode({"id_token_hint": S["latest"]["id_token"], "post_logout_redirect_uri": POST_LOGOUT, "state": state})
    w = walk(S["md"]["end_session_endpoint"] + "?" + q, path="/bye")
    same_pages(w, [])
    assert dict(urllib.parse.parse_qsl(w.hit["query"])).get("state") == state, w.hit


@check("after logout, prompt=none answers login_required")
def _():
    w = authorize(prompt="none")
    same_pages(w, [])
    assert w.params.get("error") == "login_required", w.hit


@check("prompt=none in a fresh browser: login_required at the RP")
def _():
    new_person()
    w = authorize(prompt="none")
    same_pages(w, [])
    assert w.params.get("error") == "login_required", w.hit


@check("a member of two tenants chooses one; the ID token names it")
def _():
    assert MULTI["email"] and MULTI["password"] and MULTI["tenant"], \
        "CONF_MULTI_EMAIL / CONF_MULTI_PASSWORD / CONF_MULTI_TENANT are not set"
    new_person()
    w = authorize(person=MULTI, tenant=MULTI["tenant"], allow=("login", "tenant", "approve", "consent"))
    assert w.pages[:2] == ["login", "tenant"] and w.pages[-1] == "consent", f"pages {w.pages}"
    _, claims = w.redeem()
    assert claims.get(CTX_CLAIM) == MULTI["tenant"], f"{CTX_CLAIM} = {claims.get(CTX_CLAIM)}"


# Key rotation at the jwks_uri. The server fetches a client's set again when an assertion names a
# kid it has not seen, but at most once per 30 s per client: the first fetch happened at the
# start of the script, so by now (after the browser checks) that is normally long past; if it
# is not, wait out the rest (bounded: at most about 32 s).
@check("key rotation at the jwks_uri: a second key (authlib-k2) joins the set; an assertion naming it makes the server fetch again")
def _():
    assert "jwks_uri_client" in S, "no jwks_uri client to rotate"
    fetches = jwks_fetches()
    assert fetches, "the server never fetched the jwks_uri"
    while time.monotonic() < fetches[-1]["at"] + 32:
        time.sleep(0.5)
    key2 = rsa_key("authlib-k2")
    serve_keys(S["key1"], key2)
    before = len(jwks_fetches())
    client_id = S["jwks_uri_client"]["client_id"]
    key_token(key_session(client_id, key2, scope="webapi"), "authlib-k2")
    assert len(jwks_fetches()) > before, "accepted without fetching the set again"
    key_token(key_session(client_id, S["key1"], scope="webapi"), "authlib-k1")  # the first key still works


if driver is not None:
    try:
        driver.quit()
    except WebDriverException:
        pass
listener.shutdown()
shutil.rmtree(profile, ignore_errors=True)
print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
