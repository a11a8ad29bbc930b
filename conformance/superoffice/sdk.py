#!/usr/bin/env python3
"""SuperOffice's own Python SDK (superoffice-python-sdk 0.2.8, PyPI) signs in as a system user
against Gatehouse. Runs in its own virtual environment (requirements-sdk.txt: the SDK only
installs with old, exactly pinned dependencies), started by partner.py.

    python sdk.py CONFIG.json [TICKET_FILE]

CONFIG.json: {"issuer_host_port": "127.0.0.1:PORT", "ctx": ..., "app_token": <client secret>,
"system_token": ..., "private_key_pem": ...}. Prints one check line and, on success,
`ticket <value>` (also written to TICKET_FILE when given).

The SDK's code is called unchanged; only its `environment` argument differs. The SDK always
calls `https://{environment}.superoffice.com/login/Services/PartnerSystemUserService.svc`, so
`environment` is set to `127.0.0.1:PORT/login/Services/PartnerSystemUserService.svc#`: the
`#` turns the SDK's `.superoffice.com/login/...` suffix into a URL fragment, which urllib never
sends, so the request goes to 127.0.0.1:PORT with exactly the SDK's path. The SDK speaks only
https (and turns TLS verification off process-wide), while the conformance server listens on
plain http: a small TLS-terminating forwarder here, with a throwaway self-signed certificate,
sits between them.
"""

import datetime
import importlib.metadata
import json
import os
import select
import socket
import ssl
import sys
import tempfile
import threading
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NAME = "sdk: superoffice-python-sdk 0.2.8 got a ticket over SOAP+SAML"
SOCKET_TIMEOUT = 20  # every socket operation of the forwarder
MAX_CONNECTIONS = 8  # the SDK makes one; anything beyond a handful is a runaway
SOAP_PATH = "/login/Services/PartnerSystemUserService.svc"


def fail(why):
    print(f"FAIL {NAME}: " + " ".join(str(why).split()), flush=True)


def watchdog():
    fail("the script did not finish within 120 s")
    os._exit(1)


# Nothing may hang a conformance run: the SDK's own HTTP timeout is 90 s, so bound the whole.
_timer = threading.Timer(120, watchdog)
_timer.daemon = True
_timer.start()


# ------------------------------------------------------------------------------------------------
# The TLS forwarder: accepts TLS on 127.0.0.1:<free port>, forwards the plain bytes to the
# server's http port and back. One thread per connection, at most MAX_CONNECTIONS at a time.
def self_signed(directory):
    """A throwaway certificate for 127.0.0.1 (the SDK does not verify it; it is there only
    because TLS needs one). Written to files because ssl.load_cert_chain reads files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    with open(cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_file, key_file


class Forwarder:
    def __init__(self, upstream, cert_file, key_file):
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(1)  # so that the accept loop notices close()
        self.port = self.listener.getsockname()[1]
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.request_lines = []  # the first line of each forwarded request, as the SDK sent it
        self.errors = []
        self.running = True
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def close(self):
        self.running = False
        self.listener.close()

    def accept_loop(self):
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self.slots.acquire(blocking=False):
                conn.close()  # over the bound: refuse rather than queue
                continue
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            conn.settimeout(SOCKET_TIMEOUT)
            with self.context.wrap_socket(conn, server_side=True) as tls, \
                    socket.create_connection(self.upstream, timeout=SOCKET_TIMEOUT) as plain:
                self.pipe(tls, plain)
        except Exception as e:  # reported by the check if the SDK then fails
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()
            self.slots.release()

    def pipe(self, tls, plain):
        """Copies both ways until the server closes (the SDK sends `Connection: close`). One
        thread handles both directions: an SSL socket must not be read and written from two
        threads at once. Bytes OpenSSL has already decrypted do not make the socket readable,
        hence tls.pending()."""
        first = True
        client_open = True
        while True:
            ready = [tls] if tls.pending() else select.select([tls, plain] if client_open else [plain], [], [],
                                                              SOCKET_TIMEOUT)[0]
            if not ready:
                raise TimeoutError("no traffic for %d s" % SOCKET_TIMEOUT)
            if tls in ready:
                data = tls.recv(65536)
                if not data:
                    client_open = False
                    plain.shutdown(socket.SHUT_WR)
                    continue
                if first:
                    self.request_lines.append(data.split(b"\r\n", 1)[0].decode("latin-1"))
                    first = False
                plain.sendall(data)
            if plain in ready:
                data = plain.recv(65536)
                if not data:
                    return
                tls.sendall(data)


# ------------------------------------------------------------------------------------------------
def main():
    with open(sys.argv[1]) as f:
        config = json.load(f)
    ticket_file = sys.argv[2] if len(sys.argv) > 2 else None

    version = importlib.metadata.version("superoffice-python-sdk")
    if version != "0.2.8":
        fail(f"superoffice-python-sdk {version} is installed, not 0.2.8")
        return 1
    # The SDK signs with pyOpenSSL's crypto.sign(), which warns that it is deprecated (the
    # reason pyOpenSSL is pinned); the warning on stderr is noise here.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from superofficesdk.login import SuperOfficeLogin

    host, port = config["issuer_host_port"].rsplit(":", 1)
    with tempfile.TemporaryDirectory(prefix="gatehouse-sdk-tls-") as directory:
        forwarder = Forwarder((host, int(port)), *self_signed(directory))
        environment = f"127.0.0.1:{forwarder.port}{SOAP_PATH}#"
        try:
            ticket = SuperOfficeLogin(config["ctx"], config["app_token"], config["system_token"],
                                      config["private_key_pem"], environment=environment)
        except Exception as e:
            # The SDK ignores IsSuccessful and ErrorMessage: a refusal surfaces as a TypeError in
            # b64decode (no Token), a fault as suds.WebFault; say what crossed the forwarder.
            fail(f"SuperOfficeLogin raised {type(e).__name__}: {e}; requests {forwarder.request_lines}; "
                 f"forwarder errors {forwarder.errors}")
            return 1
        finally:
            forwarder.close()

    # What the SDK sent, seen in the clear: one POST to exactly the SuperID path.
    if forwarder.request_lines != [f"POST {SOAP_PATH} HTTP/1.1"]:
        fail(f"expected one POST {SOAP_PATH}, the forwarder saw {forwarder.request_lines}")
        return 1
    if not isinstance(ticket, str) or not ticket.startswith("7T:"):
        fail(f"the SDK returned {ticket!r}, not a 7T: ticket")
        return 1
    print(f"ok   {NAME}", flush=True)
    print(f"ticket {ticket}", flush=True)
    if ticket_file:
        with open(ticket_file, "w") as f:
            f.write(ticket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
