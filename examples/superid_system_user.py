#!/usr/bin/env python3
"""A SuperID-style system-user client, as partners write them: sign the system token with the
app's RSA key given as .NET <RSAKeyValue> XML, exchange it at PartnerSystemUser/Authenticate,
and validate the returned JWT against the server's JWKS.

    pip install cryptography
    python3 examples/superid_system_user.py --server http://127.0.0.1:8080 \
        --key app-key.xml --secret gatehouse_cs_… --ctx Cust12345 --system-token gatehouse_st_…

The system token comes from the `http://schemes.superoffice.net/identity/system_token` claim of
a tenant administrator's ID token; the key from `gatehouse app cert generate` (rsa_xml).
"""

import argparse
import base64
import datetime
import json
import re
import sys
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64int(text):
    return int.from_bytes(base64.b64decode(text), "big")


def key_from_rsa_xml(xml):
    f = {tag: b64int(re.search(rf"<{tag}>([^<]+)</{tag}>", xml).group(1))
         for tag in ("Modulus", "Exponent", "P", "Q", "DP", "DQ", "InverseQ", "D")}
    public = rsa.RSAPublicNumbers(f["Exponent"], f["Modulus"])
    return rsa.RSAPrivateNumbers(f["P"], f["Q"], f["D"], f["DP"], f["DQ"], f["InverseQ"], public).private_key()


def sign_system_token(key, system_token):
    """'<token>.<UTC yyyyMMddHHmm>.<base64 RSASSA-PKCS1-v1_5 SHA-256 signature>'"""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M")
    message = f"{system_token}.{stamp}"
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{message}.{base64.b64encode(signature).decode()}"


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def validate(server, jwt, serial=None):
    header_b64, claims_b64, sig_b64 = jwt.split(".")
    header, claims = json.loads(b64url(header_b64)), json.loads(b64url(claims_b64))
    with urllib.request.urlopen(f"{server}/jwks") as r:
        jwks = json.load(r)
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    assert header["alg"] == "RS256" and jwk["kty"] == "RSA"
    public = rsa.RSAPublicNumbers(int.from_bytes(b64url(jwk["e"]), "big"), int.from_bytes(b64url(jwk["n"]), "big")).public_key()
    public.verify(b64url(sig_b64), f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    assert claims["exp"] > now, "the token has expired"
    assert claims["aud"].startswith("spn:"), claims["aud"]
    if serial is not None:
        assert claims["aud"] == f"spn:{serial}"
    return claims


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", required=True)
    ap.add_argument("--key", required=True, help="file with the app's private key as <RSAKeyValue> XML")
    ap.add_argument("--secret", required=True, help="the app's client secret (SuperID ApplicationToken)")
    ap.add_argument("--ctx", required=True, help="the tenant's context identifier")
    ap.add_argument("--system-token", required=True)
    args = ap.parse_args()
    key = key_from_rsa_xml(open(args.key).read())
    body = json.dumps({"SignedSystemToken": sign_system_token(key, args.system_token), "ApplicationToken": args.secret,
                       "ContextIdentifier": args.ctx, "ReturnTokenType": "JWT"}).encode()
    req = urllib.request.Request(f"{args.server}/Login/api/PartnerSystemUser/Authenticate", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        answer = json.load(r)
    if not answer["IsSuccessful"]:
        print(f"refused: {answer['ErrorMessage']}", file=sys.stderr)
        return 1
    claims = validate(args.server, answer["Token"])
    print(json.dumps(claims, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
