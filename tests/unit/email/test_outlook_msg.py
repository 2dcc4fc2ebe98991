"""Outlook .msg files, read wherever an .eml is: converted to MIME for the parser and for Microsoft.

The files are written with extract-msg's own OLE writer (tests/msgfile.py), the same library that reads them."""

from __future__ import annotations

import base64
import email
import hashlib
from email import policy

import pytest
from msgfile import MsgAttachment, MsgMessage, build_msg

from bot.domain import AuthResult
from bot.email import MsgError, ParseError, msg_to_mime, original_message_bytes, parse_message, read_report

RECEIVED_HEADERS = (
    "Received: from mail.evil.example (203.0.113.9) by mx.contoso.example\r\n"
    "Authentication-Results: spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=evil.example; dkim=none "
    "(message not signed) header.d=none;dmarc=fail action=quarantine header.from=evil.example;"
    "compauth=fail reason=000\r\n"
    "Authentication-Results: evil.example; spf=pass; dkim=pass\r\n"
    "X-Forefront-Antispam-Report: CIP:203.0.113.9;SCL:5;SFV:SPM;CAT:PHISH\r\n"
    "From: IT Desk <desk@evil.example>\r\n"
    "To: alice@contoso.example\r\n"
    "Subject: Your mailbox is full\r\n"
    "Date: Mon, 24 Nov 2026 09:14:00 +0000\r\n"
    "Message-ID: <msg-original@evil.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=x\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
)


def received_msg(**overrides) -> MsgMessage:
    values = dict(
        subject="Your mailbox is full",
        body="Your mailbox is full. Go to https://evil.example/owa?u=alice to get more space.",
        html=b'<html><body><a href="https://evil.example/html-link">Get space</a></body></html>',
        sender_name="IT Desk",
        sender_address="desk@evil.example",
        to=[("Alice", "alice@contoso.example")],
        message_id="<msg-original@evil.example>",
        transport_headers=RECEIVED_HEADERS,
    )
    values.update(overrides)
    return MsgMessage(**values)


def test_a_received_msg_keeps_its_internet_headers():
    data = build_msg(received_msg())
    message = parse_message(data)
    assert message.message_id == "msg-original@evil.example"
    assert message.subject == "Your mailbox is full"
    assert message.from_[0].address == "desk@evil.example"
    assert message.date == "2026-11-24T09:14:00+00:00"
    assert message.authentication[:4] == (
        AuthResult("spf", "fail", "sender IP is 203.0.113.9", "", True),
        AuthResult("dkim", "none", "message not signed", "", True),
        AuthResult("dmarc", "fail", "", "", True),
        AuthResult("compauth", "fail", "000", "", True),
    )
    assert not any(r.trusted for r in message.authentication[4:])  # the sender's own claim
    assert message.antispam["SCL"] == "5" and message.antispam["CAT"] == "PHISH"
    assert message.urls == ("https://evil.example/owa?u=alice", "https://evil.example/html-link")
    assert message.flags == ("converted from an Outlook .msg file",)
    # size and hash are the file's own; dedupe goes by the Message-ID
    assert message.size == len(data) and message.sha256 == hashlib.sha256(data).hexdigest()
    assert message.dedupe_key == "mid:msg-original@evil.example"


def test_the_converted_mime_is_what_microsoft_gets_and_is_stable():
    data = build_msg(received_msg())
    mime = original_message_bytes(data)
    assert mime == original_message_bytes(data)  # deterministic: the same file, the same bytes
    parsed = email.message_from_bytes(mime, policy=policy.default)
    assert parsed["Message-ID"] == "<msg-original@evil.example>"
    # The original's Content-* headers described a body that is not there any more: ours describe ours.
    assert parsed.get_all("Content-Type") == [parsed["Content-Type"]]
    assert parsed.get_content_type() == "multipart/alternative"
    assert "Content-Transfer-Encoding" not in parsed
    plain = parsed.get_body(("plain",)).get_content()
    assert "https://evil.example/owa?u=alice" in plain
    assert b"Received: from mail.evil.example" in mime.split(b"\r\n\r\n", 1)[0]


def test_a_msg_without_internet_headers_is_rebuilt_from_its_properties_and_says_so():
    data = build_msg(received_msg(transport_headers=None, subject="Überweisung fällig"))
    message = parse_message(data)
    assert message.subject == "Überweisung fällig"
    assert message.from_[0].name == "IT Desk" and message.from_[0].address == "desk@evil.example"
    assert message.to[0].address == "alice@contoso.example"
    assert message.message_id == "msg-original@evil.example"
    assert message.authentication == ()
    assert any("without the original Internet headers" in flag for flag in message.flags)


def test_attachments_keep_names_types_and_hashes():
    payload = b"%PDF-1.7 not really" * 100
    data = build_msg(
        received_msg(
            attachments=[
                MsgAttachment("invoice.pdf", payload, "application/pdf"),
                MsgAttachment("run-me.pdf.exe", b"MZ" + b"\x00" * 100, "application/pdf"),
            ]
        )
    )
    message = parse_message(data)
    assert [(a.filename, a.declared_type, a.sniffed_type, a.size, a.sha256) for a in message.attachments] == [
        (
            "invoice.pdf",
            "application/pdf",
            "application/pdf",
            len(payload),
            hashlib.sha256(payload).hexdigest(),
        ),
        (
            "run-me.pdf.exe",
            "application/pdf",
            "application/x-dosexec",
            102,
            hashlib.sha256(b"MZ" + b"\x00" * 100).hexdigest(),
        ),
    ]


def test_an_attached_outlook_item_is_the_original():
    phish = received_msg()
    report = MsgMessage(
        subject="FW: Your mailbox is full",
        body="Security, please look at the attached.",
        sender_name="Alice",
        sender_address="alice@contoso.example",
        to=[("Phish reports", "phish@contoso.example")],
        message_id="<report@contoso.example>",
        attachments=[MsgAttachment("Your mailbox is full.msg", embedded=phish)],
    )
    data = build_msg(report)
    message, submitted = read_report(data)
    assert message.subject == "FW: Your mailbox is full"
    assert message.inner is not None
    assert message.inner.message_id == "msg-original@evil.example"
    assert message.inner.authentication[0] == AuthResult("spf", "fail", "sender IP is 203.0.113.9", "", True)
    assert message.dedupe_key == "mid:msg-original@evil.example"
    # Microsoft gets the attached original, as MIME.
    assert email.message_from_bytes(submitted)["Message-ID"] == "<msg-original@evil.example>"


def test_a_msg_attached_to_an_eml_is_read_as_the_original():
    inner = build_msg(received_msg())
    encoded = base64.encodebytes(inner).decode().replace("\n", "\r\n")
    raw = (
        "From: alice@contoso.example\r\nTo: phish@contoso.example\r\nSubject: FW: look\r\n"
        "Message-ID: <fw@contoso.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        '--B\r\nContent-Type: application/vnd.ms-outlook; name="phish.msg"\r\n'
        'Content-Disposition: attachment; filename="phish.msg"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        f"{encoded}--B--\r\n"
    ).encode()
    message, submitted = read_report(raw)
    assert message.inner is not None and message.inner.message_id == "msg-original@evil.example"
    assert "the attached original is an Outlook .msg file, converted to MIME" in message.flags
    assert submitted == original_message_bytes(inner)


def test_nesting_of_outlook_items_is_bounded():
    item = received_msg()
    for level in range(6):
        item = MsgMessage(
            subject=f"FW{level}",
            body="fw",
            sender_address="a@contoso.example",
            attachments=[MsgAttachment(f"l{level}.msg", embedded=item)],
        )
    message = parse_message(build_msg(item))
    depth = 0
    while message.inner is not None:
        message, depth = message.inner, depth + 1
    assert depth <= 3


def test_an_smime_signed_msg_keeps_its_signed_entity():
    entity = (
        b'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="S"\r\n'
        b"\r\n--S\r\nContent-Type: text/plain\r\n\r\nPay at https://signed.evil.example/pay\r\n"
        b"--S\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--S--\r\n"
    )
    data = build_msg(
        received_msg(
            message_class="IPM.Note.SMIME.MultipartSigned",
            attachments=[MsgAttachment("smime.p7m", entity, "multipart/signed")],
        )
    )
    message = parse_message(data)
    assert message.urls == ("https://signed.evil.example/pay",)
    assert "digitally signed (S/MIME or PGP); the signature was not checked" in message.flags


@pytest.mark.parametrize(
    "data",
    [
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8,
    ],
    ids=["zeros", "garbage"],
)
def test_a_damaged_msg_is_a_parse_error_not_a_crash(data):
    with pytest.raises(ParseError) as error:
        parse_message(data)
    assert error.value.reason == "msg_unreadable"
    assert "Outlook .msg" in str(error.value)
    with pytest.raises(MsgError):
        msg_to_mime(data)


def test_a_truncated_msg_is_a_parse_error():
    data = build_msg(received_msg())
    for cut in (600, len(data) // 2, len(data) - 100):
        try:
            parse_message(data[:cut])
        except ParseError as error:
            assert error.reason == "msg_unreadable"


def test_html_wrapped_in_rtf_is_read_when_there_is_no_html_body():
    import compressed_rtf

    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\fromhtml1 \deff0{\fonttbl{\f0\fswiss Arial;}}{\*\htmltag64 <html>}"
        rb'{\*\htmltag64 <body>}{\*\htmltag84 <a href="https://rtf.evil.example/x">}click{\*\htmltag92 </a>}'
        rb"{\*\htmltag72 </body>}{\*\htmltag72 </html>}}"
    )
    data = build_msg(
        received_msg(body="", html=None, rtf_compressed=compressed_rtf.compress(rtf, compressed=True))
    )
    assert parse_message(data).urls == ("https://rtf.evil.example/x",)


def test_damaged_rtf_is_a_flag_and_the_plain_body_still_counts():
    data = build_msg(received_msg(html=None, rtf_compressed=b"\x00" * 64))
    message = parse_message(data)
    assert message.urls == ("https://evil.example/owa?u=alice",)
