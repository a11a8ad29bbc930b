#!/usr/bin/env python3
"""Authlib (an independent OAuth/OIDC client library) against Gatehouse, through discovery and
dynamic registration only. Prints one line per check.

    python3 rp.py ISSUER INITIAL_ACCESS_TOKEN EMAIL PASSWORD
"""

import re
import sys
import time
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oauth2.rfc7636 import create_s256_code_challenge

ISSUER, INITIAL, EMAIL, PASSWORD = sys.argv[1:5]
REDIRECT = "https://rp.example.test/cb"
passed = failed = 0


def check(name):
    def run(fn):
        global passed, failed
        try:
            fn()
            passed += 1
            print(f"ok   python: {name}", flush=True)
        except Exception as e:  # one line per failed check, then go on
            failed += 1
            print(f"FAIL python: {name}: {e!r}", flush=True)
    return run


browser = requests.Session()


def hidden(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


def sign_in(url):
    res = browser.get(url, allow_redirects=False)
    for _ in range(10):
        location = res.headers.get("location")
        if location and location.startswith(REDIRECT):
            return location
        if location:
            res = browser.get(urllib.parse.urljoin(ISSUER, location), allow_redirects=False)
            continue
        html = res.text
        form = {k: hidden(html, k) for k in ("request", "csrf", "action")}
        extra = {"login": {"email": EMAIL, "password": PASSWORD}, "approve": {"decision": "approve"},
                 "consent": {"decision": "allow"}, "tenant": {"tenant": hidden(html, "tenant")}}
        form.update(extra.get(form["action"], {}))
        res = browser.post(ISSUER + "/signin", data=form, allow_redirects=False)
    raise RuntimeError("sign-in did not finish")


state = {}


@check("discovery and JWKS shape")
def _():
    md = requests.get(ISSUER + "/.well-known/openid-configuration").json()
    assert md["issuer"] == ISSUER
    jwks = requests.get(md["jwks_uri"]).json()
    assert all("kid" in k and "d" not in k for k in jwks["keys"])
    state["md"], state["jwks"] = md, JsonWebKey.import_key_set(jwks)


@check("dynamic registration")
def _():
    res = requests.post(state["md"]["registration_endpoint"], headers={"Authorization": f"Bearer {INITIAL}"},
                        json={"redirect_uris": [REDIRECT], "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                              "response_types": ["code"], "client_name": "Authlib conformance",
                              "token_endpoint_auth_method": "client_secret_post"})
    assert res.status_code == 201, res.text
    reg = res.json()
    state["client"] = OAuth2Session(reg["client_id"], reg["client_secret"], scope="openid profile email webapi",
                                    redirect_uri=REDIRECT, token_endpoint_auth_method="client_secret_post",
                                    code_challenge_method="S256")
    state["reg"] = reg


@check("code + PKCE with nonce and state; ID token validated")
def _():
    c, md = state["client"], state["md"]
    verifier, nonce = generate_token(48), generate_token(20)
    url, st = c.create_authorization_url(md["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    callback = sign_in(url)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(callback).query))
    assert query["state"] == st and query["iss"] == ISSUER
    token = c.fetch_token(md["token_endpoint"], authorization_response=callback, code_verifier=verifier)
    claims = jwt.decode(token["id_token"], state["jwks"],
                        claims_options={"iss": {"essential": True, "value": ISSUER},
                                        "aud": {"essential": True, "value": state["reg"]["client_id"]},
                                        "nonce": {"essential": True, "value": nonce}})
    claims.validate(now=int(time.time()))
    state["token"], state["callback"], state["verifier"] = token, callback, verifier


@check("userinfo")
def _():
    info = state["client"].get(state["md"]["userinfo_endpoint"]).json()
    assert info["email"] == EMAIL, info


@check("refresh")
def _():
    old = state["token"]["refresh_token"]
    token = state["client"].refresh_token(state["md"]["token_endpoint"], refresh_token=old)
    assert token["refresh_token"] != old
    state["token"] = token


@check("PKCE mismatch is invalid_grant")
def _():
    c, md = state["client"], state["md"]
    url, _ = c.create_authorization_url(md["authorization_endpoint"], code_verifier=generate_token(48), nonce=generate_token(20))
    callback = sign_in(url)
    try:
        c.fetch_token(md["token_endpoint"], authorization_response=callback, code_verifier=generate_token(48))
    except Exception as e:
        assert "invalid_grant" in str(e), e
        return
    raise AssertionError("mismatched verifier accepted")


@check("wrong redirect URI is never redirected to")
def _():
    q = urllib.parse.urlencode({"response_type": "code", "client_id": state["reg"]["client_id"], "redirect_uri": "https://evil.example.test/cb",
                                "scope": "openid", "code_challenge": create_s256_code_challenge(generate_token(48)), "code_challenge_method": "S256"})
    res = requests.get(state["md"]["authorization_endpoint"] + "?" + q, allow_redirects=False)
    assert res.status_code == 400 and "location" not in res.headers


@check("client credentials")
def _():
    c = OAuth2Session(state["reg"]["client_id"], state["reg"]["client_secret"], scope="webapi", token_endpoint_auth_method="client_secret_post")
    token = c.fetch_token(state["md"]["token_endpoint"], grant_type="client_credentials")
    assert token["access_token"] and "refresh_token" not in token


@check("introspection")
def _():
    res = state["client"].introspect_token(state["md"]["introspection_endpoint"], token=state["token"]["access_token"]).json()
    assert res["active"] is True, res


@check("revocation")
def _():
    state["client"].revoke_token(state["md"]["revocation_endpoint"], token=state["token"]["access_token"])
    res = state["client"].introspect_token(state["md"]["introspection_endpoint"], token=state["token"]["access_token"]).json()
    assert res["active"] is False, res


@check("code replay is invalid_grant (and revokes the grant)")
def _():
    try:
        state["client"].fetch_token(state["md"]["token_endpoint"], authorization_response=state["callback"], code_verifier=state["verifier"])
    except Exception as e:
        assert "invalid_grant" in str(e), e
        return
    raise AssertionError("replay accepted")


@check("wrong secret is 401 invalid_client")
def _():
    res = requests.post(state["md"]["token_endpoint"], auth=(state["reg"]["client_id"], "wrong"), data={"grant_type": "client_credentials"})
    assert res.status_code == 401 and res.json()["error"] == "invalid_client", res.text


@check("unsupported grant is unsupported_grant_type")
def _():
    res = requests.post(state["md"]["token_endpoint"], auth=(state["reg"]["client_id"], state["reg"]["client_secret"]),
                        data={"grant_type": "password", "username": "a", "password": "b"})
    assert res.status_code == 400 and res.json()["error"] == "unsupported_grant_type", res.text


@check("RP-initiated logout")
def _():
    q = urllib.parse.urlencode({"id_token_hint": state["token"]["id_token"], "client_id": state["reg"]["client_id"]})
    res = browser.get(state["md"]["end_session_endpoint"] + "?" + q, allow_redirects=False)
    assert res.status_code == 200 and "signed out" in res.text


print(f"python: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
