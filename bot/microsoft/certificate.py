"""The app registration's certificate credential, made here: an RSA key and a self-signed certificate for it, in
one PEM file (what MS_CLIENT_CERTIFICATE names, read by `auth.AppToken`), and the `keyCredential` Graph stores
for it — the certificate only: the private key never leaves the machine it was made on.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_SIZE = 2048  # what Entra requires at least for certificate credentials
VALIDITY = dt.timedelta(days=365)  # Graph's documented most for a certificate added this way: a year


@dataclass(frozen=True)
class Certificate:
    """The public half: what is uploaded and what a keyCredential is compared with."""

    der: bytes
    subject: str
    not_before: dt.datetime
    not_after: dt.datetime

    def key_credential(self, display_name: str) -> dict[str, str]:
        """The `keyCredential` for Graph (application.keyCredentials): type and usage as Graph requires for a
        certificate that verifies client assertions; its dates are the certificate's own."""
        return {
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
            "key": base64.b64encode(self.der).decode("ascii"),
            "displayName": display_name[:90],
            "startDateTime": _graph_time(self.not_before),
            "endDateTime": _graph_time(self.not_after),
        }

    def registered_in(self, key_credentials: list[dict]) -> bool:
        """True when one of an app's keyCredentials (read with `key`) is this certificate."""
        mine = base64.b64encode(self.der).decode("ascii")
        return any(str(item.get("key") or "") == mine for item in key_credentials)


def self_signed(
    common_name: str, *, not_before: dt.datetime | None = None, validity: dt.timedelta = VALIDITY
) -> tuple[bytes, Certificate]:
    """A new RSA key and its self-signed certificate: (the PEM of both, for the file; the certificate)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = (not_before or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + certificate.public_bytes(serialization.Encoding.PEM), _public(certificate)


def read_certificate(pem: bytes) -> Certificate:
    """The certificate in a PEM file of key and certificate (its first certificate). Raises ValueError."""
    return _public(x509.load_pem_x509_certificate(pem))


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the first byte, never replacing a file that exists (FileExistsError)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _public(certificate: x509.Certificate) -> Certificate:
    return Certificate(
        der=certificate.public_bytes(serialization.Encoding.DER),
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
    )


def _graph_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
