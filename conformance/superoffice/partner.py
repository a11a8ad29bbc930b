#!/usr/bin/env python3
"""A SuperOffice partner against Gatehouse as its SuperID: what a partner's server-to-server
app does, with the libraries and wire formats SuperOffice's own samples use.

    python3 partner.py ISSUER ADMIN_EMAIL ADMIN_PASSWORD

ADMIN_EMAIL administers tenant CONF_TENANT (default Conf1). Environment (set by
conformance/run): CONF_GATEHOUSE_BIN (the CLI) with GATEHOUSE_DATABASE_URL and
GATEHOUSE_KEYS_DIR (the running server's database); CONF_PARTNER (the partner the app belongs
to); CONF_SDK_PYTHON (the python of the SDK's virtual environment, see requirements-sdk.txt);
CONF_WEBAPI_URL and CONF_NETSERVER_URL (the server's URL claim templates, when it has them);
CHROMIUM and CHROMEDRIVER (default /usr/bin/chromium, /usr/bin/chromedriver).

The partner:
  1. creates its app with the CLI (the server-to-server template, which has the system-token
     integration point) and a generated key pair, as a partner does in the portal;
  2. has the tenant's administrator sign in at the tenant form of the authorize endpoint,
     `/login/{ctx}/oauth/authorize`, in a real headless Chromium (Authlib does the OAuth side),
     which approves the app in the tenant; the ID token carries the system token;
  3. trades the signed system token for a system-user JWT and its ticket, the way SuperOffice's
     DevNet sample does (RSA XML key, REST, the JWT checked with the first key of the SuperID
     JWKS), then over SOAP by hand (JWT and SAML, the SAML assertion verified with signxml
     against the downloadable certificate), and through SuperOffice's Python SDK (sdk.py);
  4. sends the SOAP endpoint hostile XML; introspects tickets; revokes the app in the tenant.
One line per check (`ok   superoffice: ...` / `FAIL superoffice: ...: why`).
"""

import base64
import datetime
import hashlib
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

ISSUER, ADMIN_EMAIL, ADMIN_PASSWORD = sys.argv[1:4]
ISSUER = ISSUER.rstrip("/")
CTX = os.environ.get("CONF_TENANT", "Conf1")
BIN = os.environ.get("CONF_GATEHOUSE_BIN", "target/debug/gatehouse")
SDK_PYTHON = os.environ.get("CONF_SDK_PYTHON")
APP_NAME = "Conformance ERP"
HTTP_TIMEOUT = 20

SUPERID = "http://schemes.superoffice.net/identity/"
TICKET = SUPERID + "ticket"
SOAP_NS = "http://www.superoffice.com/superid/partnersystemuser/0.1"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ACTION = SOAP_NS + "/IPartnerSystemUserService/Authenticate"
SOAP_PATH = "/login/Services/PartnerSystemUserService.svc"
REST_PATH = "/Login/api/PartnerSystemUser/Authenticate"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP_NS = "http://schemas.xmlsoap.org/wsdl/soap/"

passed = failed = 0


def watchdog():
    print("FAIL superoffice: the script did not finish within 8 minutes", flush=True)
    os._exit(1)


# Nothing may hang a CI run: the whole script is bounded (every HTTP call has its own timeout).
_timer = threading.Timer(480, watchdog)
_timer.daemon = True
_timer.start()


def check(name):
    def run(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok   superoffice: {name}", flush=True)
        except Exception as e:  # one line per failed check, then go on
            failed += 1
            print(f"FAIL superoffice: {name}: " + " ".join(f"{e!r}".split()), flush=True)
    return run


S = {}  # what the checks share; a check that needs what an earlier one failed to make fails too


def need(*keys):
    missing = [k for k in keys if k not in S]
    assert not missing, f"an earlier check did not provide {missing}"
    return [S[k] for k in keys]


def cli(*args):
    """The Gatehouse CLI on the running server's database, as JSON."""
    res = subprocess.run([BIN, "--json", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, f"gatehouse {' '.join(args)}: exit {res.returncode}: {res.stderr.strip()}"
    return json.loads(res.stdout) if res.stdout.strip() else None


# ------------------------------------------------------------------------------------------------
# The partner's own callback listener, on another origin than the server (its own free port).
class Listener(http.server.BaseHTTPRequestHandler):
    hits = []
    lock = threading.Lock()

    def do_GET(self):
        with self.lock:
            self.hits.append(self.path)
        page = "<!doctype html><html><head><title>Callback · Conformance ERP</title></head><body>ok</body></html>".encode()
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *args):
        pass


listener = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Listener)
listener.daemon_threads = True
threading.Thread(target=listener.serve_forever, daemon=True).start()
CALLBACK = f"http://127.0.0.1:{listener.server_address[1]}/callback"


# ------------------------------------------------------------------------------------------------
# The browser. Gatehouse's pages are told apart by their titles.
PAGES = {
    "Sign in · Gatehouse": "login",
    "Choose a tenant · Gatehouse": "tenant",
    "Approve this app for your tenant · Gatehouse": "approve",
    "Allow access? · Gatehouse": "consent",
}
ERROR_PAGE = "Something is not right · Gatehouse"
driver = None
profile = tempfile.mkdtemp(prefix="gatehouse-partner-chromium-")


def safe(fn, default=""):
    try:
        return fn()
    except WebDriverException:
        return default


def walk(url, timeout=45):
    """Opens `url` and answers Gatehouse's pages as the tenant administrator until the browser
    lands on the partner's callback; returns the pages seen and the callback URL."""
    seen, title = [], ""
    deadline = time.monotonic() + timeout
    try:
        driver.get(url)
    except WebDriverException:
        pass  # a slow load; the loop below reads the page as it is
    while time.monotonic() < deadline:
        at = safe(lambda: driver.current_url)
        if at.startswith(CALLBACK):
            return seen, at
        title = safe(lambda: driver.title)
        if title == ERROR_PAGE:
            why = safe(lambda: driver.find_element(By.CSS_SELECTOR, ".error").text)
            raise AssertionError(f"Gatehouse error page after {seen}: {why} (at {at})")
        step = PAGES.get(title)
        if step is None:
            time.sleep(0.1)
            continue
        assert len(seen) < 6, f"too many pages: {seen}"
        try:
            body = driver.find_element(By.TAG_NAME, "body")
            if step == "login":
                driver.find_element(By.CSS_SELECTOR, "#email").clear()
                driver.find_element(By.CSS_SELECTOR, "#email").send_keys(ADMIN_EMAIL)
                driver.find_element(By.CSS_SELECTOR, "#password").send_keys(ADMIN_PASSWORD)
                driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            elif step == "tenant":
                driver.find_element(By.CSS_SELECTOR, f'input[name=tenant][value="{CTX}"]').click()
                driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            elif step == "approve":
                driver.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
            else:
                driver.find_element(By.CSS_SELECTOR, "button[value=allow]").click()
        except WebDriverException:
            time.sleep(0.2)  # the page changed under us (still loading): read it again
            continue
        seen.append(step)
        try:
            WebDriverWait(driver, 15, poll_frequency=0.1).until(EC.staleness_of(body))
        except TimeoutException:
            raise AssertionError(f'answering "{title}" did not leave the page') from None
        except WebDriverException:
            continue  # the browser answered the wait with an error: read the page again
    raise AssertionError(f"the browser did not reach {CALLBACK} within {timeout}s; pages {seen}, "
                         f'last "{title}" at {safe(lambda: driver.current_url)}')


# ------------------------------------------------------------------------------------------------
# The system-user exchange, as SuperOffice's samples build it.
def rsa_xml_private_key(text):
    """A .NET <RSAKeyValue> private key (what SuperOffice's developer portal hands out, and
    what the DevNet sample loads) as a cryptography key: each element is the big-endian
    base64 of one number."""
    root = ET.fromstring(text)
    n = {child.tag: int.from_bytes(base64.b64decode(child.text), "big") for child in root}
    public = rsa.RSAPublicNumbers(n["Exponent"], n["Modulus"])
    return rsa.RSAPrivateNumbers(p=n["P"], q=n["Q"], d=n["D"], dmp1=n["DP"], dmq1=n["DQ"], iqmp=n["InverseQ"],
                                 public_numbers=public).private_key()


USED_MINUTES = set()


def fresh_minute():
    """A UTC minute (yyyyMMddHHmm) that no earlier exchange here signed. Signing is
    deterministic: the same system token in the same minute is the same string, which the
    server answers with its first answer (an identical retry). So each exchange meant to be a
    new one takes a minute of its own inside the server's ±5 minute window, never the current
    one, which is left to the SDK (it signs the time it runs at)."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)
    for step in (-1, -2, -3, 1, 2, 3):
        t = now + datetime.timedelta(minutes=step)
        if t not in USED_MINUTES:
            USED_MINUTES.add(t)
            return t.strftime("%Y%m%d%H%M")
    raise AssertionError("no unused minute left in the window")


def signed_system_token(key, system_token, minute):
    """`<system token>.<yyyyMMddHHmm>.<base64 RSASSA-PKCS1-v1_5 SHA-256 signature>`."""
    plain = f"{system_token}.{minute}"
    signature = key.sign(plain.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return f"{plain}.{base64.b64encode(signature).decode()}"


def rest(signed, token_type="JWT"):
    res = requests.post(ISSUER + REST_PATH, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"},
                        json={"SignedSystemToken": signed, "ApplicationToken": S["secret"], "ContextIdentifier": CTX,
                              "ReturnTokenType": token_type})
    assert res.status_code == 200, f"{res.status_code} {res.text[:300]}"
    return res.json()


def suds_envelope(signed, token_type):
    """The envelope suds (SuperOffice's Python SDK and DevNet sample) sends, byte for byte in
    shape: prefixed elements, the headers in the service's namespace, on one line."""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:tns="{SOAP_NS}" xmlns:ns0="{SOAP_NS}" xmlns:ns1="{SOAP_ENV}">'
            f'<SOAP-ENV:Header><tns:ApplicationToken>{escape(S["secret"])}</tns:ApplicationToken>'
            f'<tns:ContextIdentifier>{escape(CTX)}</tns:ContextIdentifier></SOAP-ENV:Header>'
            f'<ns1:Body><ns0:AuthenticationRequest><ns0:SignedSystemToken>{escape(signed)}</ns0:SignedSystemToken>'
            f'<ns0:ReturnTokenType>{token_type}</ns0:ReturnTokenType></ns0:AuthenticationRequest></ns1:Body>'
            '</SOAP-ENV:Envelope>')


def wcf_envelope(signed, token_type):
    """The envelope a .NET WCF client generated from the WSDL sends: default namespaces."""
    return (f'<s:Envelope xmlns:s="{SOAP_ENV}"><s:Header>'
            f'<ApplicationToken xmlns="{SOAP_NS}">{escape(S["secret"])}</ApplicationToken>'
            f'<ContextIdentifier xmlns="{SOAP_NS}">{escape(CTX)}</ContextIdentifier></s:Header>'
            '<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            f'<AuthenticationRequest xmlns="{SOAP_NS}"><SignedSystemToken>{escape(signed)}</SignedSystemToken>'
            f'<ReturnTokenType>{token_type}</ReturnTokenType></AuthenticationRequest></s:Body></s:Envelope>')


def soap_post(body, path=SOAP_PATH):
    return requests.post(ISSUER + path, data=body.encode("utf-8") if isinstance(body, str) else body,
                         timeout=HTTP_TIMEOUT,
                         headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{SOAP_ACTION}"'})


def soap_answer(res):
    """AuthenticationResponse {IsSuccessful, Token, ErrorMessage}, read by namespace."""
    assert res.status_code == 200, f"{res.status_code} {res.text[:300]}"
    assert res.headers.get("content-type", "").startswith("text/xml"), res.headers.get("content-type")
    answer = ET.fromstring(res.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_NS}}}AuthenticationResponse")
    assert answer is not None, res.text[:300]
    value = lambda name: (answer.findtext(f"{{{SOAP_NS}}}{name}") or "").strip()
    return {"IsSuccessful": value("IsSuccessful") == "true", "Token": value("Token"),
            "ErrorMessage": value("ErrorMessage")}


def soap_fault(res, status):
    """A SOAP 1.1 fault blaming the client, with this HTTP status."""
    assert res.status_code == status, f"HTTP {res.status_code}, expected {status}: {res.text[:200]}"
    assert res.headers.get("content-type", "").startswith("text/xml"), res.headers.get("content-type")
    fault = ET.fromstring(res.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, f"no SOAP Fault: {res.text[:200]}"
    code = fault.findtext("faultcode") or ""
    # faultcode is a QName; its prefix must name the SOAP envelope namespace ("s:Client").
    prefix, _, local = code.rpartition(":")
    assert local == "Client" and f'xmlns:{prefix}="{SOAP_ENV}"' in res.text, f"faultcode {code!r}"
    return fault.findtext("faultstring")


def system_user_claims(token):
    """A system-user JWT checked as SuperOffice's DevNet sample checks it: the JWKS at
    /login/.well-known/jwks, its first key (no kid matching), then the claims SuperOffice's
    "validate security tokens" page names: issuer SuperOffice AS, audience spn:<serial>."""
    key = JsonWebKey.import_key(S["superid_jwks"]["keys"][0])
    claims = jwt.decode(token, key, claims_options={"iss": {"essential": True, "value": "SuperOffice AS"},
                                                    "aud": {"essential": True, "value": f"spn:{S['serial']}"},
                                                    "exp": {"essential": True}})
    claims.validate(now=int(time.time()), leeway=30)
    assert claims.header.get("alg") == "RS256", claims.header
    assert str(claims.get(TICKET, "")).startswith("7T:"), f"{TICKET} = {claims.get(TICKET)!r}"
    assert claims.get(SUPERID + "ctx") == CTX, f"ctx = {claims.get(SUPERID + 'ctx')!r}"
    return claims


def url_claims(claims):
    """webapi_url and netserver_url, when the server has templates for them."""
    for name, env in (("webapi_url", "CONF_WEBAPI_URL"), ("netserver_url", "CONF_NETSERVER_URL")):
        template = os.environ.get(env)
        if template:
            want = template.replace("{ctx}", CTX)
            assert claims.get(SUPERID + name) == want, f"{name} = {claims.get(SUPERID + name)!r}, expected {want!r}"


def introspect(token):
    """RFC 7662 introspection as the app, with client_secret_basic (Authlib's default)."""
    session = OAuth2Session(S["client_id"], S["secret"], default_timeout=HTTP_TIMEOUT)
    res = session.introspect_token(ISSUER + "/introspect", token=token)
    assert res.status_code == 200, f"{res.status_code} {res.text[:300]}"
    return res.json()


# ------------------------------------------------------------------------------------------------
@check("headless Chromium starts")
def _():
    global driver
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)


@check(f'the partner creates "{APP_NAME}" with the CLI: server-to-server template (system-token), public, '
       f"redirect URI {CALLBACK}, a generated key pair (PEM and RSA XML)")
def _():
    partner = os.environ.get("CONF_PARTNER")
    if not partner:  # run by hand: the partner conformance/run adds
        partner = next(p["id"] for p in cli("partner", "list") if p["name"] == "Conformance")
    made = cli("app", "create", "--partner", partner, "--template", "server-to-server", "--name", APP_NAME,
               "--public", "--redirect-uri", CALLBACK)
    app = made["app"]
    assert app["redirect_uris"] == [CALLBACK], app["redirect_uris"]
    assert {"entitlement": "system-token", "status": "active"} in app["entitlements"], app["entitlements"]
    S["client_id"], S["secret"] = app["client_id"], made["client_secret"]["secret"]
    cert = cli("app", "cert", "generate", app["client_id"])
    assert "<RSAKeyValue>" in cert["private_key_rsa_xml"] and "PRIVATE KEY" in cert["private_key_pem"], sorted(cert)
    S["key_xml"], S["key_pem"] = cert["private_key_rsa_xml"], cert["private_key_pem"]
    tenant = next(t for t in cli("tenant", "list") if t["ctx"] == CTX)
    S["serial"], S["company"] = str(tenant["serial"]), tenant["name"]


@check("the SuperID JWKS (/login/.well-known/jwks): keys[0] is RSA with x5c, x5t, x5t#S256; "
       "/login/SuperOfficeFederatedLogin.crt is its certificate")
def _():
    res = requests.get(ISSUER + "/login/.well-known/jwks", timeout=HTTP_TIMEOUT)
    assert res.status_code == 200, res.status_code
    jwks = res.json()
    first = jwks["keys"][0]
    assert first["kty"] == "RSA" and "d" not in first, {k: v for k, v in first.items() if k != "n"}
    for key in jwks["keys"]:
        if key["kty"] == "RSA":
            der = base64.b64decode(key["x5c"][0])
            b64url = lambda digest: base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            assert key["x5t"] == b64url(hashlib.sha1(der).digest()), f"x5t of {key['kid']}"
            assert key["x5t#S256"] == b64url(hashlib.sha256(der).digest()), f"x5t#S256 of {key['kid']}"
            # The certificate is of this very key.
            numbers = x509.load_der_x509_certificate(der).public_key().public_numbers()
            assert JsonWebKey.import_key(key).get_public_key().public_numbers() == numbers, f"x5c of {key['kid']}"
    res = requests.get(ISSUER + "/login/SuperOfficeFederatedLogin.crt", timeout=HTTP_TIMEOUT)
    assert res.status_code == 200, res.status_code
    crt = x509.load_pem_x509_certificate(res.content)
    assert crt.public_bytes(serialization.Encoding.DER) == base64.b64decode(first["x5c"][0]), \
        "the .crt is not keys[0]'s certificate"
    S["superid_jwks"], S["crt_pem"] = jwks, res.text


@check(f"the {CTX} administrator signs in at /login/{CTX}/oauth/authorize in Chromium (login, approval, consent); "
       "Authlib (PKCE S256, nonce) redeems the code at /login/common/oauth/tokens; ID token validated with the SuperID JWKS")
def _():
    client_id, secret, jwks = need("client_id", "secret", "superid_jwks")
    # SuperOffice's samples send the client secret in the token request's body.
    session = OAuth2Session(client_id, secret, redirect_uri=CALLBACK, scope="openid", code_challenge_method="S256",
                            token_endpoint_auth_method="client_secret_post", default_timeout=HTTP_TIMEOUT)
    verifier, nonce, state = generate_token(48), generate_token(20), generate_token(20)
    url, _ = session.create_authorization_url(f"{ISSUER}/login/{CTX}/oauth/authorize", state=state, nonce=nonce,
                                              code_verifier=verifier)
    try:
        pages, callback = walk(url)
        assert "approve" in pages and pages[0] == "login", f"pages {pages}"
    except (AssertionError, WebDriverException) as first:
        # One more try with the same request: a browser slow to start after a long build has
        # been seen to miss a page here once in four runs. A second failure is reported as such.
        # The first try may have given the approval already, so only the login is required now.
        print(f"note superoffice: the first sign-in attempt failed, trying once more: {first}", flush=True)
        driver.delete_all_cookies()
        pages, callback = walk(url)
        assert pages and pages[0] == "login", f"pages {pages}"
    assert f"{CALLBACK}?" in callback and "code=" in callback, callback
    token = session.fetch_token(ISSUER + "/login/common/oauth/tokens", authorization_response=callback, state=state,
                                code_verifier=verifier)
    claims = jwt.decode(token["id_token"], JsonWebKey.import_key_set(jwks), claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": ISSUER},
                                        "aud": {"essential": True, "value": client_id}},
                        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(now=int(time.time()), leeway=30)
    S["id_claims"] = claims


@check("the ID token carries SuperID's documented claims: ctx, serial, associateid, initials, "
       "so_primary_email_address, identityprovider, is_administrator, upn, email, company_name")
def _():
    (claims,) = need("id_claims")
    superid = {k[len(SUPERID):]: v for k, v in claims.items() if k.startswith(SUPERID)}
    want = {"ctx": CTX, "serial": S["serial"], "so_primary_email_address": ADMIN_EMAIL, "identityprovider": "gatehouse",
            "is_administrator": "True", "upn": ADMIN_EMAIL, "email": ADMIN_EMAIL, "company_name": S["company"]}
    wrong = {k: superid.get(k) for k, v in want.items() if superid.get(k) != v}
    assert not wrong, f"{wrong}; expected {want}"
    assert re.fullmatch(r"[0-9]+", superid.get("associateid", "")), f"associateid {superid.get('associateid')!r}"
    assert isinstance(superid.get("initials"), str) and superid["initials"], f"initials {superid.get('initials')!r}"
    url_claims(claims)


@check(f'the ID token carries the system token "{APP_NAME}-<random>"')
def _():
    (claims,) = need("id_claims")
    token = claims.get(SUPERID + "system_token")
    assert isinstance(token, str) and token.startswith(APP_NAME + "-") and len(token) > len(APP_NAME) + 8, \
        f"system_token {token!r}"
    S["system_token"] = token


@check("the DevNet way: the RSA XML private key loaded into RSAPrivateNumbers; the signed system token traded "
       f'at {REST_PATH} (ReturnTokenType "JWT"): IsSuccessful')
def _():
    key_xml, key_pem, system_token = need("key_xml", "key_pem", "system_token")
    key = rsa_xml_private_key(key_xml)
    pem_key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert key.private_numbers() == pem_key.private_numbers(), "the RSA XML and the PEM are different keys"
    S["key"] = key
    signed = signed_system_token(key, system_token, fresh_minute())
    answer = rest(signed)
    assert answer.get("IsSuccessful") is True and answer.get("Token"), answer
    S["rest_signed"], S["rest_answer"] = signed, answer


@check("the system-user JWT verifies with jwks['keys'][0] as SuperOffice's sample does (no kid matching): "
       "iss SuperOffice AS, aud spn:<serial>, a 7T: ticket, ctx")
def _():
    (answer,) = need("rest_answer")
    claims = system_user_claims(answer["Token"])
    url_claims(claims)
    S["rest_ticket"] = claims[TICKET]


@check("the identical SignedSystemToken sent again inside its window gets the identical Token")
def _():
    signed, first = need("rest_signed", "rest_answer")
    again = rest(signed)
    assert again.get("IsSuccessful") is True and again.get("Token") == first["Token"], \
        f"IsSuccessful {again.get('IsSuccessful')}, same Token: {again.get('Token') == first['Token']}, {again.get('ErrorMessage')}"


@check("SOAP 1.1 as suds sends it (at the docs' /login/services/...), ReturnTokenType Jwt: IsSuccessful, "
       "a system-user JWT with a new 7T: ticket")
def _():
    key, system_token = need("key", "system_token")
    signed = signed_system_token(key, system_token, fresh_minute())
    answer = soap_answer(soap_post(suds_envelope(signed, "Jwt"), path=SOAP_PATH.replace("/Services/", "/services/")))
    assert answer["IsSuccessful"] and answer["Token"], answer
    ticket = system_user_claims(answer["Token"])[TICKET]
    assert ticket != S.get("rest_ticket"), "the same ticket as the REST exchange"


@check("SOAP 1.1 as WCF sends it, ReturnTokenType Saml: a SAML 2.0 assertion signed (enveloped, RSA-SHA256, "
       "exc-c14n, X509Certificate in KeyInfo) that signxml verifies with SuperOfficeFederatedLogin.crt; "
       "the ticket attribute has only a Name")
def _():
    key, system_token, crt_pem = need("key", "system_token", "crt_pem")
    signed = signed_system_token(key, system_token, fresh_minute())
    answer = soap_answer(soap_post(wcf_envelope(signed, "Saml")))
    assert answer["IsSuccessful"] and answer["Token"], answer
    document = base64.b64decode(answer["Token"], validate=True)
    # The signature sits directly in the Assertion (location "./"), refers to it by its ID
    # attribute, and may use only RSA-SHA256 and SHA-256; the certificate is the one SuperOffice
    # publishes for download, not whatever KeyInfo carries.
    expect = SignatureConfiguration(location="./", expect_references=1,
                                    signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
                                    digest_algorithms=frozenset({DigestAlgorithm.SHA256}))
    result = XMLVerifier().verify(document, x509_cert=crt_pem, id_attribute="ID", expect_config=expect)
    # Only what was signed is trusted from here on.
    assertion = result.signed_xml
    assert assertion.tag == f"{{{SAML_NS}}}Assertion", assertion.tag
    signature = ET.fromstring(document).find(f"{{{DSIG_NS}}}Signature")
    c14n = signature.find(f"{{{DSIG_NS}}}SignedInfo/{{{DSIG_NS}}}CanonicalizationMethod").get("Algorithm")
    assert c14n == EXC_C14N, f"CanonicalizationMethod {c14n}"
    in_keyinfo = signature.findtext(f"{{{DSIG_NS}}}KeyInfo/{{{DSIG_NS}}}X509Data/{{{DSIG_NS}}}X509Certificate")
    crt_der = x509.load_pem_x509_certificate(crt_pem.encode()).public_bytes(serialization.Encoding.DER)
    assert in_keyinfo and base64.b64decode(in_keyinfo) == crt_der, "KeyInfo does not carry the published certificate"
    assert assertion.findtext(f"{{{SAML_NS}}}Issuer") == "SuperOffice AS", assertion.findtext(f"{{{SAML_NS}}}Issuer")
    audience = assertion.findtext(f".//{{{SAML_NS}}}Audience")
    assert audience == f"spn:{S['serial']}", f"Audience {audience}"
    attributes = {a.get("Name"): a for a in assertion.iter(f"{{{SAML_NS}}}Attribute")}
    assert TICKET in attributes, f"no ticket attribute among {sorted(attributes)}"
    # SuperOffice's Python SDK matches ''.join(attribute.attrib.values()) against the name, so the
    # element may carry no other attribute (NameFormat, FriendlyName).
    assert dict(attributes[TICKET].attrib) == {"Name": TICKET}, dict(attributes[TICKET].attrib)
    ticket = attributes[TICKET].findtext(f"{{{SAML_NS}}}AttributeValue")
    assert ticket.startswith("7T:"), ticket
    ctx = attributes.get(SUPERID + "ctx")
    assert ctx is not None and ctx.findtext(f"{{{SAML_NS}}}AttributeValue") == CTX, "ctx attribute"


@check("the WSDL at ?wsdl parses and describes Authenticate (SOAPAction, headers, this address)")
def _():
    res = requests.get(ISSUER + SOAP_PATH + "?wsdl", timeout=HTTP_TIMEOUT)
    assert res.status_code == 200, res.status_code
    wsdl = ET.fromstring(res.content)
    assert wsdl.tag == f"{{{WSDL_NS}}}definitions" and wsdl.get("targetNamespace") == SOAP_NS, wsdl.tag
    operations = [o.get("name") for o in wsdl.iter(f"{{{WSDL_NS}}}operation")]
    assert "Authenticate" in operations, operations
    actions = [o.get("soapAction") for o in wsdl.iter(f"{{{WSDL_SOAP_NS}}}operation")]
    assert actions == [SOAP_ACTION], actions
    headers = sorted(h.get("part") for h in wsdl.iter(f"{{{WSDL_SOAP_NS}}}header"))
    assert headers == ["ApplicationToken", "ContextIdentifier"], headers
    addresses = [a.get("location") for a in wsdl.iter(f"{{{WSDL_SOAP_NS}}}address")]
    assert addresses == [ISSUER + SOAP_PATH], addresses


# Hostile and broken input: the SOAP endpoint parses XML from anyone on the internet.
def hostile_envelope(doctype, token):
    return f'<?xml version="1.0"?>{doctype}' + suds_envelope("SIGNED", "Jwt").split("?>", 1)[1].replace(
        "SIGNED", token)


@check("XXE (a DOCTYPE with a SYSTEM entity) over SOAP: 400 with a SOAP Fault s:Client")
def _():
    need("secret")
    doctype = '<!DOCTYPE e [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    soap_fault(soap_post(hostile_envelope(doctype, "&xxe;")), 400)


@check("billion laughs over SOAP: 400 with a SOAP Fault s:Client")
def _():
    need("secret")
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    doctype = f"<!DOCTYPE lolz [{entities}]>"
    soap_fault(soap_post(hostile_envelope(doctype, "&lol9;")), 400)


@check("a body that is not XML over SOAP: 400 with a SOAP Fault s:Client")
def _():
    soap_fault(soap_post("SignedSystemToken=this is not XML <"), 400)


@check("a body over 64 KiB over SOAP: 413 with a SOAP Fault s:Client")
def _():
    need("secret")
    soap_fault(soap_post(suds_envelope("x" * (70 * 1024), "Jwt")), 413)


@check("superoffice-python-sdk 0.2.8, unchanged but for its environment string, gets a new ticket over "
       "SOAP+SAML (https through a TLS forwarder)")
def _():
    key_pem, system_token = need("key_pem", "system_token")
    assert SDK_PYTHON, "CONF_SDK_PYTHON (the SDK's virtual environment) is not set"
    with tempfile.TemporaryDirectory(prefix="gatehouse-sdk-") as directory:
        config = os.path.join(directory, "config.json")
        with open(config, "w") as f:
            json.dump({"issuer_host_port": urllib.parse.urlsplit(ISSUER).netloc, "ctx": CTX,
                       "app_token": S["secret"], "system_token": system_token, "private_key_pem": key_pem}, f)
        res = subprocess.run([SDK_PYTHON, os.path.join(os.path.dirname(os.path.abspath(__file__)), "sdk.py"), config],
                             capture_output=True, text=True, timeout=150)
    lines = res.stdout.splitlines()
    verdict = next((line for line in lines if line.startswith(("ok ", "FAIL "))), None)
    tickets = [line.split(" ", 1)[1] for line in lines if line.startswith("ticket ")]
    assert res.returncode == 0 and verdict and verdict.startswith("ok ") and tickets, \
        f"exit {res.returncode}: {verdict or res.stdout[-300:]} {res.stderr.strip()[-500:]}"
    assert tickets[0].startswith("7T:") and tickets[0] != S.get("rest_ticket"), tickets[0]
    S["sdk_ticket"] = tickets[0]


@check("the SDK's ticket introspected as the app: active, token_type SOTicket, the app's client_id and the ctx")
def _():
    (ticket,) = need("sdk_ticket")
    body = introspect(ticket)
    assert body.get("active") is True and body.get("token_type") == "SOTicket", body
    assert body.get("client_id") == S["client_id"] and body.get(SUPERID + "ctx") == CTX, body


@check(f"after `gatehouse tenant revoke` of the app in {CTX}: its tickets introspect inactive")
def _():
    client_id, ticket = need("client_id", "sdk_ticket")
    cli("tenant", "revoke", "--ctx", CTX, "--client-id", client_id)
    for t in (ticket, S.get("rest_ticket")):
        if t:
            body = introspect(t)
            assert body == {"active": False}, body


@check('after the revoke a new exchange answers IsSuccessful false with "Error 1" (REST and SOAP)')
def _():
    key, system_token = need("key", "system_token")
    answer = rest(signed_system_token(key, system_token, fresh_minute()))
    assert answer.get("IsSuccessful") is False and not answer.get("Token"), answer
    assert str(answer.get("ErrorMessage", "")).startswith("Error 1"), answer.get("ErrorMessage")
    answer = soap_answer(soap_post(suds_envelope(signed_system_token(key, system_token, fresh_minute()), "Saml")))
    assert answer["IsSuccessful"] is False and not answer["Token"], answer
    assert answer["ErrorMessage"].startswith("Error 1"), answer["ErrorMessage"]


if driver is not None:
    try:
        driver.quit()
    except WebDriverException:
        pass
listener.shutdown()
shutil.rmtree(profile, ignore_errors=True)
print(f"superoffice: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
