"""Throw-away TLS material for the loopback emulators.

MSAL refuses any authority that is not `https://`, so the sandbox identity and Graph servers need TLS
that the bot can be told to trust: a private CA (what `SSL_CERT_FILE` / `verify=` points at) and a
server certificate for 127.0.0.1 and localhost signed by it. The certificates carry the extensions that
strict verifiers insist on (Python 3.13 turns on VERIFY_X509_STRICT by default), so the same files work
everywhere. A separate self-signed RSA certificate stands in for the app registration's client certificate.

Nothing here touches the network; everything is generated in memory and written only to the directory given.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bot.microsoft.certificate import self_signed

# A clock skew allowance for the machine running the demo, and a life long enough for a long demo or CI run.
_VALID_BEFORE_NOW = dt.timedelta(days=1)
_VALID_AFTER_NOW = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsMaterial:
    directory: Path
    ca_file: Path  # PEM of the generated CA: what clients trust (SSL_CERT_FILE / verify)
    cert_file: Path  # server certificate for 127.0.0.1 and localhost, signed by the CA
    key_file: Path  # the server's private key (file mode 0600)


@dataclass(frozen=True)
class ClientCertificate:
    """An app-registration certificate credential: what `MS_CLIENT_CERTIFICATE` points at, in memory."""

    pem: bytes = field(repr=False)  # private key PEM + certificate PEM, concatenated
    certificate_pem: bytes
    thumbprint_sha1: str  # hex, lower case (what MSAL's `thumbprint` wants)

    @property
    def private_key_pem(self) -> bytes:
        end = b"-----END PRIVATE KEY-----"
        return self.pem[: self.pem.index(end) + len(end)] + b"\n"

    @property
    def thumbprint_sha256(self) -> str:
        return x509.load_pem_x509_certificate(self.certificate_pem).fingerprint(hashes.SHA256()).hex()

    def msal_credential(self, *, send_certificate: bool = False) -> dict[str, str]:
        """The `client_credential` dict for msal.ConfidentialClientApplication.

        With `send_certificate`, MSAL signs with PS256 and sends the chain (x5c); without, RS256 and x5t.
        """
        credential = {"private_key": self.private_key_pem.decode("ascii")}
        if send_certificate:
            credential["public_certificate"] = self.certificate_pem.decode("ascii")
        else:
            credential["thumbprint"] = self.thumbprint_sha1
        return credential


def _validity() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    return now - _VALID_BEFORE_NOW, now + _VALID_AFTER_NOW


def _write_private(path: Path, data: bytes) -> None:
    # Created 0600 from the start: a key must never be readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def make_tls(directory: Path) -> TlsMaterial:
    """Generate a CA and a server certificate for 127.0.0.1/localhost into `directory` (created if missing)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    not_before, not_after = _validity()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phishbot sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, "phishbot sandbox CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phishbot sandbox"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
                ]
            )
        )
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_file = directory / "ca.pem"
    cert_file = directory / "server.pem"
    key_file = directory / "server-key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    _write_private(
        key_file,
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    # The CA key is deliberately not kept: nothing can be signed with this CA after today.
    return TlsMaterial(directory=directory, ca_file=ca_file, cert_file=cert_file, key_file=key_file)


def server_context(tls: TlsMaterial) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=str(tls.cert_file), keyfile=str(tls.key_file))
    return context


@functools.cache
def default_client_context() -> ssl.SSLContext:
    """The system's verifying client context, made once per process and shared (a context is safe to share
    between clients and threads): making one reads the whole CA store, 35-40 ms of CPU, and an emulator or a
    test helper that made its own each time spent more on that than on what it sent."""
    return ssl.create_default_context()


def client_context(ca_file: Path) -> ssl.SSLContext:
    """A verifying client context that trusts only the sandbox CA (hostname checks stay on)."""
    return ssl.create_default_context(cafile=str(ca_file))


def make_client_certificate(common_name: str = "phishbot") -> ClientCertificate:
    """A self-signed RSA 2048 certificate and key, as uploaded to an Entra app registration (made the way
    `phishbot setup microsoft` makes one, valid for the sandbox's shorter life)."""
    not_before, not_after = _validity()
    pem, certificate = self_signed(common_name, not_before=not_before, validity=not_after - not_before)
    certificate_pem = pem[pem.index(b"-----BEGIN CERTIFICATE-----") :]
    return ClientCertificate(
        pem=pem,
        certificate_pem=certificate_pem,
        thumbprint_sha1=hashlib.sha1(certificate.der).hexdigest(),  # noqa: S324 -- x5t is SHA-1 by definition
    )
