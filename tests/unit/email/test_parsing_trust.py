"""Parser rules added for every door: only the receiving organisation's Authentication-Results are trusted,
S/MIME signed mail is read (the signature is not checked), encrypted mail is flagged and still a message, and
the number of header fields read is bounded. Bytes in, a ReportedMessage out."""

from __future__ import annotations

import base64
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from bot.email import parse_message, read_report
from bot.email._smime import pkcs7_content
from bot.email.analysis import trusted_verdicts

HEAD = b"From: a@evil.example\r\nTo: b@contoso.example\r\nSubject: s\r\nMessage-ID: <m@evil.example>\r\n"
CONTENT = b"Content-Type: text/plain\r\n\r\nPlease log in at https://signed.evil.example/login now\r\n"


@pytest.fixture(scope="module")
def signer():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer.evil.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert, key


def pkcs7_part(der: bytes, smime_type: str | None) -> bytes:
    parameter = f"; smime-type={smime_type}" if smime_type else ""
    return (
        f'MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime{parameter}; name="smime.p7m"\r\n'
        'Content-Disposition: attachment; filename="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    ).encode() + base64.encodebytes(der)


# --- Authentication-Results --------------------------------------------------------------------------------


def build(*headers: str) -> bytes:
    return HEAD + "".join(h + "\r\n" for h in headers).encode() + b"\r\nbody\r\n"


def test_only_the_topmost_and_its_own_authserv_id_are_trusted():
    message = parse_message(
        build(
            "Authentication-Results: mx.contoso.example; spf=fail smtp.mailfrom=evil.example; dmarc=fail",
            "Authentication-Results: relay.evil.example; spf=pass; dkim=pass; dmarc=pass",
            "Authentication-Results: mx.contoso.example; dkim=pass header.d=evil.example",
        )
    )
    assert [(r.method, r.result, r.trusted) for r in message.authentication] == [
        ("spf", "fail", True),
        ("dmarc", "fail", True),
        ("spf", "pass", False),
        ("dkim", "pass", False),
        ("dmarc", "pass", False),
        ("dkim", "pass", True),  # same authserv-id as the receiver's: a border MTA strips forgeries of it
    ]
    assert trusted_verdicts(message.authentication) == {
        "spf": "fail",
        "dkim": "pass",
        "dmarc": "fail",
        "compauth": None,
    }


def test_microsofts_form_without_an_authserv_id_trusts_the_topmost_header_only():
    message = parse_message(
        build(
            "Authentication-Results: spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.example;"
            " dmarc=fail action=quarantine header.from=evil.example;compauth=fail reason=000",
            # An attacker's header in the same form, lower down: it must not pass for Microsoft's.
            "Authentication-Results: spf=pass; dkim=pass; dmarc=pass; compauth=pass reason=100",
        )
    )
    assert trusted_verdicts(message.authentication) == {
        "spf": "fail",
        "dkim": None,
        "dmarc": "fail",
        "compauth": "fail",
    }
    assert [r.trusted for r in message.authentication] == [True, True, True, False, False, False, False]


def test_a_receiver_that_stamps_none_trusts_nothing_below_it():
    message = parse_message(
        build(
            "Authentication-Results: mx.contoso.example; none",
            "Authentication-Results: relay.evil.example; dmarc=pass",
        )
    )
    assert [(r.method, r.trusted) for r in message.authentication] == [("dmarc", False)]
    assert trusted_verdicts(message.authentication)["dmarc"] is None


def test_header_count_is_bounded():
    raw = (
        HEAD
        + b"".join(b"X-Filler-%d: x\r\n" % i for i in range(5000))
        + b"Reply-To: late@evil.example\r\n\r\nb"
    )
    message = parse_message(raw)
    assert "more than 2,000 header fields: the rest were not read" in message.flags
    assert message.reply_to == ()  # past the bound
    assert message.subject == "s"


# --- S/MIME -----------------------------------------------------------------------------------------------------


def test_detached_signature_reads_the_content_and_says_the_signature_was_not_checked(signer):
    cert, key = signer
    signed = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.SMIME, [pkcs7.PKCS7Options.DetachedSignature])
    )
    message = parse_message(HEAD + signed)
    assert message.urls == ("https://signed.evil.example/login",)
    assert "digitally signed (S/MIME or PGP); the signature was not checked" in message.flags
    assert [a.filename for a in message.attachments] == ["smime.p7s"]


@pytest.mark.parametrize("smime_type", ["signed-data", None])
def test_opaque_signed_data_is_unwrapped(signer, smime_type):
    cert, key = signer
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [])
    )
    message = parse_message(HEAD + pkcs7_part(der, smime_type))
    assert message.urls == ("https://signed.evil.example/login",)
    assert "signed with S/MIME; the signed content was read (the signature was not checked)" in message.flags
    assert message.attachments == ()


def _indefinite(der: bytes) -> bytes:
    """The same structure in BER with indefinite lengths for the outer constructed elements, and the content
    split into a constructed OCTET STRING, as streaming S/MIME agents write it."""

    def element(data: bytes, position: int) -> tuple[int, int, int, int]:
        tag = data[position]
        length = data[position + 1]
        start = position + 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[start : start + count], "big")
            start += count
        return tag, start, start + length, length

    def rewrite(data: bytes, depth: int) -> bytes:
        out = b""
        position = 0
        while position < len(data):
            tag, start, end, _ = element(data, position)
            inner = data[start:end]
            if tag == 0x04 and len(inner) > 8:
                chunks = [inner[i : i + 8] for i in range(0, len(inner), 8)]
                out += b"\x24\x80" + b"".join(b"\x04" + bytes([len(c)]) + c for c in chunks) + b"\x00\x00"
            elif tag & 0x20 and depth < 6:
                out += bytes([tag]) + b"\x80" + rewrite(inner, depth + 1) + b"\x00\x00"
            else:
                out += data[position:end]
            position = end
        return out

    return rewrite(der, 0)


def test_indefinite_length_ber_signed_data_is_unwrapped(signer):
    cert, key = signer
    der = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(cert, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [])
    )
    ber = _indefinite(der)
    assert ber != der and b"\x24\x80" in ber
    assert pkcs7_content(ber) == ("signed", CONTENT)
    message = parse_message(HEAD + pkcs7_part(ber, "signed-data"))
    assert message.urls == ("https://signed.evil.example/login",)


def test_encrypted_mail_is_flagged_and_still_a_message_to_submit(signer):
    cert, _ = signer
    encrypted = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(CONTENT)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.SMIME, [])
    )
    raw = HEAD + encrypted
    message, submitted = read_report(raw)
    assert "encrypted with S/MIME: the content cannot be read" in message.flags
    assert message.urls == ()
    assert [a.filename for a in message.attachments] == ["smime.p7m"]
    assert submitted == raw  # submitted all the same


def test_pgp_encrypted_mail_is_flagged():
    raw = HEAD + (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol="application/pgp-encrypted"; '
        b'boundary="E"\r\n\r\n--E\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n'
        b"--E\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQ==\r\n"
        b"-----END PGP MESSAGE-----\r\n--E--\r\n"
    )
    assert "encrypted (PGP/MIME): the content cannot be read" in parse_message(raw).flags


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x30",
        b"\x30\x80" * 5000,
        b"\x30\x84\xff\xff\xff\xff",
        b"\x06\x09" + b"\x00" * 9,
        b"not ber at all",
    ],
    ids=["empty", "truncated", "deep-indefinite", "huge-length", "bare-oid", "text"],
)
def test_hostile_pkcs7_is_a_flag(blob):
    message = parse_message(HEAD + pkcs7_part(blob, "signed-data"))
    assert "an S/MIME part could not be read" in message.flags


def test_signed_content_nested_in_signed_content_is_read_to_the_end(signer):
    # Each layer grows the message by a third (base64), so the size bound stops nesting long before the
    # nesting bound (shared with multipart/*, tested in test_parsing) would; 20 layers are read in full.
    cert, key = signer
    content = CONTENT
    for _ in range(20):
        der = (
            pkcs7.PKCS7SignatureBuilder()
            .set_data(content)
            .add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.NoCerts])
        )
        content = pkcs7_part(der, "signed-data")
    message = parse_message(HEAD + content)
    assert message.urls == ("https://signed.evil.example/login",)
