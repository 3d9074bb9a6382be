"""TLS in front of a real `mlflow server`, for tests: a self-signed CA made here, server and client
certificates it signs, and a loopback TCP proxy that ends TLS and relays the bytes.

    pki = Pki(tmp_path)                       # ca.pem, server.pem/server.key, client.pem (+key)
    with TlsProxy(server.uri, pki) as proxy:  # https://127.0.0.1:PORT
        ...
    with TlsProxy(server.uri, pki, require_client_cert=True) as proxy:
        ...

The certificates come from `cryptography`, which MLflow already depends on. Threads only; every
socket has a timeout and the proxy closes its listener on exit.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import threading
from pathlib import Path
from urllib.parse import urlsplit

SOCKET_TIMEOUT = 30.0


class Pki:
    """A CA and the certificates it signed, as PEM files in `directory`."""

    def __init__(self, directory: Path, name: str = "test"):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        directory.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)

        def key():
            return ec.generate_private_key(ec.SECP256R1())

        def pem_key(k) -> bytes:
            return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())

        def builder(subject: str, issuer: str, public_key):
            return (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                .public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
            )

        ca_key = key()
        ca_name = f"{name} CA"
        ca = (
            builder(ca_name, ca_name, ca_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        def leaf(subject: str, usage, san: bool):
            k = key()
            b = (
                builder(subject, ca_name, k.public_key())
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                               critical=False)
            )
            if san:
                b = b.add_extension(x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            return b.sign(ca_key, hashes.SHA256()), k

        server, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH, san=True)
        client, client_key = leaf("mlflow-gitops test client", ExtendedKeyUsageOID.CLIENT_AUTH, san=False)
        self.ca = directory / "ca.pem"
        self.server_cert = directory / "server.pem"
        self.server_key = directory / "server.key"
        self.client_cert = directory / "client.pem"
        self.client_key = directory / "client.key"
        self.client_bundle = directory / "client-bundle.pem"  # certificate and key in one file
        self.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
        self.server_key.write_bytes(pem_key(server_key))
        self.client_cert.write_bytes(client.public_bytes(serialization.Encoding.PEM))
        self.client_key.write_bytes(pem_key(client_key))
        self.client_bundle.write_bytes(client.public_bytes(serialization.Encoding.PEM) + pem_key(client_key))


class TlsProxy:
    """https://127.0.0.1:PORT in front of `upstream` (http://HOST:PORT). With
    `require_client_cert`, a client must show a certificate signed by the CA."""

    def __init__(self, upstream: str, pki: Pki, require_client_cert: bool = False):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        if require_client_cert:
            self.context.verify_mode = ssl.CERT_REQUIRED
            self.context.load_verify_locations(pki.ca)
        self.handshake_failures: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self.port = self._listener.getsockname()[1]
        self.uri = f"https://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._handle, args=(raw,), daemon=True).start()

    def _handle(self, raw: socket.socket) -> None:
        raw.settimeout(SOCKET_TIMEOUT)
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_failures.append(str(e))
            raw.close()
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=SOCKET_TIMEOUT)
        except OSError:
            client.close()
            return
        lock = threading.Lock()

        def close_both() -> None:  # either side done: the other's recv returns at once
            with lock:
                for s in (client, upstream):
                    try:
                        s.close()
                    except OSError:
                        pass

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while not self._stop.is_set():
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except (OSError, ssl.SSLError):
                pass
            finally:
                close_both()

        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)
