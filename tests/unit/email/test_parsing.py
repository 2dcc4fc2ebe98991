"""bot.email.parsing: raw bytes in, ReportedMessage out. Hostile input is the normal case."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import io
import ipaddress
import json
import random
import re
import zipfile
from email import message_from_bytes
from email import policy as email_policy
from email.feedparser import BytesFeedParser
from email.generator import BytesGenerator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import Address, AuthResult, ReportedMessage
from bot.email import ParseError, _flatten, _mime, looks_like_email, original_message_bytes, parse_message

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "emails"
SAMPLES = ROOT / "bot" / "sandbox" / "samples"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def build(*headers: str, body: str | bytes = "hello\r\n") -> bytes:
    """An email from header lines and a body; headers are str, so 8-bit tests pass bytes bodies/headers."""
    head = "".join(line + "\r\n" for line in headers).encode("latin-1")
    if isinstance(body, str):
        body = body.encode("latin-1")
    return head + b"\r\n" + body


BASE = ("From: sender@example.com", "To: rcpt@example.org", "Message-ID: <base@example.com>")


def text_email(text: str, *extra_headers: str) -> bytes:
    return build(
        *BASE,
        "Subject: t",
        *extra_headers,
        "Content-Type: text/plain; charset=utf-8",
        body=text.encode("utf-8"),
    )


def html_email(markup: str, *, encoding: str = "8bit") -> bytes:
    body = markup.encode("utf-8")
    return build(
        *BASE,
        "Subject: h",
        "Content-Type: text/html; charset=utf-8",
        f"Content-Transfer-Encoding: {encoding}",
        body=body,
    )


def with_attachment(
    data: bytes, filename_params: str, content_type: str = "application/octet-stream"
) -> bytes:
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return build(
        *BASE,
        "Subject: attachment",
        "MIME-Version: 1.0",
        'Content-Type: multipart/mixed; boundary="BOUND"',
        body=(
            "--BOUND\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            f"--BOUND\r\nContent-Type: {content_type}\r\nContent-Disposition: attachment; {filename_params}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}--BOUND--\r\n"
        ),
    )


def forward(inner: bytes, *, message_id: str = "report@example.org", subject: str = "FW: look") -> bytes:
    return (
        build(
            "From: reporter@example.org",
            "To: soc@example.org",
            f"Subject: {subject}",
            f"Message-ID: <{message_id}>",
            "MIME-Version: 1.0",
            'Content-Type: multipart/mixed; boundary="FWD-' + message_id + '"',
            body="",
        )
        + f"--FWD-{message_id}\r\nContent-Type: text/plain\r\n\r\nplease look\r\n".encode()
        + f"--FWD-{message_id}\r\nContent-Type: message/rfc822\r\n\r\n".encode()
        + inner
        + f"\r\n--FWD-{message_id}--\r\n".encode()
    )


def assert_storable(message: ReportedMessage) -> None:
    """Every string survives JSON, UTF-8 (no lone surrogates) and PostgreSQL text (no NUL)."""
    encoded = json.dumps(message.to_dict(), ensure_ascii=False).encode("utf-8")
    assert b"\\u0000" not in encoded and b"\x00" not in encoded


# --- the shared sample emails (MIT, tests/fixtures/emails) --------------------------------------------

SHARED = [
    (
        "emls_amazon_phish_url_shortener.eml",
        "CAO_do4mciapTz0gawp-q84-Ta8bVxYpUzfBFphEQU3B5jkC7Cw@mail.gmail.com",
        "Your recent Amazon order is on hold",
        Address("Amazon", "billingservices.amazon.com@gmail.com"),
        "https://bit.ly/33p6BKD",
    ),
    (
        "emls_bec_ceo_impersonation.eml",
        "CAO_do4n4jwcfabQcEScYd9oSjDytgm_PveKKiF_gtBEYL8a0XQ@mail.gmail.com",
        "Urgent: Need W2s",
        Address("Joshua Kamdjou", "joshkamdjou90@gmail.com"),
        None,
    ),
    (
        "emls_fedex_brand_impersonation.eml",
        "CAFi1TxEVfDmZMM_X8V4=nSR5R==ZKM_eg2vaONDpJDW3vwTtCw@mail.gmail.com",
        "FedEx Shipment 124796864833 Notification",
        Address("Fedex Tracking Updates", "trackingupdates@deliver-fedex.com"),
        "https://drive.google.com/file/d/1qtm5hdD1b-Z4XPhkvoWHH72jbQaJyRu8/view?usp=sharing",
    ),
    (
        "emls_punycode_robinhood.eml",
        "CAN0NPtJ_kr55nppyraX7-s1wNU=3Mos97a-mPaOoKJF=zS6RtQ@mail.gmail.com",
        "Your order has been placed",
        Address("Robinhood", "support@xn--robnhood-e2a.com"),
        "https://rob\u00ednhood.com/contact",  # an IDN host is kept as written
    ),
    (
        "emls_reported_phish.eml",
        "CAO_do4=wmXgtaHSLwiVMjYrpG_dx=jjroj_BBSwTrEa+oLC2Tw@mail.gmail.com",
        "Outline for new project",
        Address("Ian Thiel", "ianthiel74@gmail.com"),
        "https://docs.google.com/document/d/17i65HNqXrfLkzu7iRziIOl7KucYY7Mud3U40IZD2d5k/edit",
    ),
    (
        "emls_twitter_phish.eml",
        "CA+OXtS_3go_ALphuPVaBYo0yKQJGm5ecvJj4rrZTkPY204R4QQ@mail.gmail.com",
        "Your account is locked",
        Address("Account Team", "no-reply@abuse-twitter.com"),
        "https://bit.ly/33p6BKD",
    ),
    (
        "tutorial-files_1-intro_impersonation.eml",
        "CAO_do4n4jwcfabQcEScYd9oSjDytgm_PveKKiF_gtBEYL8a0XQ@mail.gmail.com",
        "Urgent: Need W2s",
        Address("Joshua Kamdjou", "joshkamdjou90@gmail.com"),
        None,
    ),
    (
        "tutorial-files_3-write_office365_covid_phish.eml",
        "202102031209.113C9eDc031722@vps.server.com",
        "A file was shared with you tyrellcorp-Covid-19 Vaccination And Testing Report.pdf.",  # folded header
        Address("HR tyrellcorp <noreply@tyrellcorp.io>", "rachael@tyrellcorp.io"),
        "https://configwxrrweeewxx00wfxrrxprw2e.fra1.cdn.digitaloceanspaces.com/index.htm"
        "?=en-US&username=rachael@tyrellcorp.io",  # base64 HTML body, &amp; decoded
    ),
]


@pytest.mark.parametrize(
    ("name", "message_id", "subject", "sender", "url"), SHARED, ids=[s[0] for s in SHARED]
)
def test_shared_samples_parse(name, message_id, subject, sender, url):
    raw = fixture(name)
    message = parse_message(raw)
    assert message.message_id == message_id
    assert message.subject == subject
    assert message.from_ == (sender,)
    if url is None:
        assert message.urls == ()
    else:
        assert url in message.urls
    assert message.flags == ()
    assert message.size == len(raw)
    assert message.sha256 == hashlib.sha256(raw).hexdigest()
    assert message.dedupe_key == "mid:" + message_id.lower()
    assert message.date is not None and message.date[:4] in {"2019", "2020", "2021"}


def test_shared_fedex_urls_from_quoted_printable_in_first_seen_order():
    message = parse_message(fixture("emls_fedex_brand_impersonation.eml"))
    assert message.urls == (
        "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=124796864833&language=en"
        "&opco=FDEG&clientype=ivother",
        "https://drive.google.com/file/d/1qtm5hdD1b-Z4XPhkvoWHH72jbQaJyRu8/view?usp=sharing",
        "https://www.fedex.com/apps/fedextrack/?action=track&tracknumbers=1247968644545833&language=en"
        "&opco=FDEG&clientype=ivother",
        "http://fedex.com/",
    )


def test_shared_punycode_sample_reads_utf8_in_an_8bit_header():
    message = parse_message(fixture("emls_punycode_robinhood.eml"))
    assert message.return_path == "support@rob\u00ednhood.com"
    spf = [result for result in message.authentication if result.method == "spf"]
    assert spf and "rob\u00ednhood.com" in spf[0].reason


def test_shared_office365_sample_headers():
    message = parse_message(fixture("tutorial-files_3-write_office365_covid_phish.eml"))
    assert message.antispam == {
        "CIP": "216.71.148.252",
        "SCL": "-1",
        "IPV": "CAL",
        "SFV": "SKN",
        "PTR": "esa2.hc2528-13.iphmx.com",
        "CAT": "NONE",
        "BCL": "0",
    }
    # Exchange Online's form: no authserv-id, stray "; tyrellcorp.io;" pieces, reason=905 for compauth.
    assert message.authentication == (
        AuthResult("spf", "none", "sender IP is 216.71.148.252", "", trusted=True),
        AuthResult("dkim", "none", "message not signed", "", trusted=True),
        AuthResult("dmarc", "none", "", "", trusted=True),
        AuthResult("compauth", "none", "905", "", trusted=True),
    )
    assert message.return_path == "root@vps.server.com"
    assert message.to == (Address("", "rachael@tyrellcorp.io"),)
    assert message.date == "2021-02-03T07:09:40-05:00"


def test_shared_gmail_sample_keeps_every_authentication_results_header_in_order():
    message = parse_message(fixture("emls_amazon_phish_url_shortener.eml"))
    assert [(r.method, r.result) for r in message.authentication] == [
        ("dkim", "fail"),  # the topmost header comes first
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert {r.authserv_id for r in message.authentication} == {"mx.google.com"}
    assert message.authentication[3].reason == "p=NONE sp=QUARANTINE dis=NONE"


# --- our own samples (bot/sandbox/samples) ---------------------------------------------------------------

RESERVED = re.compile(r"(^|\.)(example|test)$|(^|\.)example\.(com|net|org)$")
DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(net)
    for net in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def _hosts(message: ReportedMessage) -> set[str]:
    hosts = {urlsplit(url).hostname or "" for url in message.urls}
    addresses = [a.address for a in (*message.from_, *message.to, *message.cc, *message.reply_to)]
    addresses += [message.return_path or ""]
    hosts |= {address.rpartition("@")[2] for address in addresses if address}
    hosts |= {result.authserv_id for result in message.authentication if result.authserv_id}
    if message.inner is not None:
        hosts |= _hosts(message.inner)
    return hosts


@pytest.mark.parametrize("name", ["credential-phish.eml", "invoice-malware.eml", "forwarded-phish.eml"])
def test_our_samples_use_only_reserved_domains_and_addresses(name):
    raw = sample(name)
    text = raw.decode("ascii")
    hosts = _hosts(parse_message(raw))
    hosts |= set(re.findall(r"\b(?:by|from|helo=) ?\[?([a-z0-9-]+(?:\.[a-z0-9-]+)+)", text, re.IGNORECASE))
    hosts |= {
        value.rpartition("@")[2] for value in re.findall(r"(?:mailfrom|header\.[dfi]\w*)=([^\s;]+)", text)
    }
    hosts -= {"none", ""}
    assert hosts
    for host in hosts:
        if re.fullmatch(r"[\d.]+", host):
            continue  # an address literal: checked below
        assert RESERVED.search(host.lower()), host
    for literal in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b2001:db8:[0-9a-f:]*", text):
        assert any(ipaddress.ip_address(literal) in network for network in DOCUMENTATION_NETWORKS), literal
    for required in ("Received:", "Message-ID:", "Date:", "MIME-Version:"):
        assert required in text


def test_sample_credential_phish():
    raw = sample("credential-phish.eml")
    message = parse_message(raw)
    assert message.subject == "Action required: your password expires today \u26a0"  # two RFC 2047 words
    assert message.message_id == "20240514081238.4F2A9C1D7E@login-micros0ft-secure.example"
    assert message.from_ == (Address("Microsoft 365 Admin", "no-reply@login-micros0ft-secure.example"),)
    assert message.reply_to == (Address("IT Helpdesk", "it-helpdesk@mail.example.net"),)
    assert message.to == (Address("Alex Wilber", "alex.wilber@contoso.example"),)
    assert message.return_path == "bounces+alex.wilber=contoso.example@login-micros0ft-secure.example"
    assert message.date == "2024-05-14T08:12:38+00:00"
    assert message.urls == (
        "https://login-micros0ft-secure.example/common/oauth2/authorize"
        "?client=owa&user=alex.wilber%40contoso.example&session=7f3a9c",
        "https://cdn.login-micros0ft-secure.example/assets/ms-logo.png",
        "https://login-micros0ft-secure.example/privacy",
    )
    assert message.authentication == (
        AuthResult("spf", "fail", "sender IP is 203.0.113.45", "", trusted=True),
        AuthResult("dkim", "none", "message not signed", "", trusted=True),
        AuthResult("dmarc", "fail", "", "", trusted=True),
        AuthResult("compauth", "fail", "000", "", trusted=True),
        # added by the sender's own server, lower down: kept, after the receiving organisation's results,
        # and not trusted (the sender could have written them)
        AuthResult("spf", "pass", "", "mail.login-micros0ft-secure.example"),
        AuthResult("dkim", "pass", "", "mail.login-micros0ft-secure.example"),
        AuthResult("dmarc", "pass", "", "mail.login-micros0ft-secure.example"),
    )
    assert message.antispam == {
        "CIP": "203.0.113.45",
        "SCL": "5",
        "IPV": "NLI",
        "SFV": "SPM",
        "PTR": "mail.login-micros0ft-secure.example",
        "CAT": "PHISH",
        "BCL": "0",
    }
    assert message.attachments == ()
    assert message.inner is None
    assert message.flags == ()


def test_sample_invoice_attachments_match_an_independent_decode():
    raw = sample("invoice-malware.eml")
    message = parse_message(raw)
    assert message.subject == "Overdue invoice INV-20931 - payment due today"
    assert message.cc == (Address("", "ap-team@contoso.example"),)
    reference = message_from_bytes(raw, policy=email_policy.default)
    expected = [(part.get_filename(), part.get_content()) for part in reference.iter_attachments()]
    assert [(a.filename, a.size, a.sha256) for a in message.attachments] == [
        (
            name,
            len(content.encode() if isinstance(content, str) else content),
            hashlib.sha256(content.encode() if isinstance(content, str) else content).hexdigest(),
        )
        for name, content in expected
    ]
    assert [(a.filename, a.declared_type, a.sniffed_type) for a in message.attachments] == [
        ("invoice.html", "text/html", "text/html"),
        ("INV-20931.zip", "application/zip", "application/zip"),
    ]
    assert message.urls == ()  # links inside attachments are not the message's links
    dmarc = [r for r in message.authentication if r.method == "dmarc"]
    assert dmarc == [
        AuthResult(
            "dmarc", "fail", "SPF not aligned (relaxed), DKIM not aligned", "mx1.contoso.example", True
        )
    ]
    assert message.flags == ()


def test_sample_forwarded_phish_reads_the_wrapped_message():
    raw = sample("forwarded-phish.eml")
    message = parse_message(raw)
    assert message.subject == "FW: Your mailbox is almost full"
    assert message.inner is not None
    inner = message.inner
    assert inner.subject == "Your mailbox is almost full"
    assert inner.from_ == (Address("Contoso IT Support", "support@mailbox-quota.example"),)
    assert inner.urls == ("https://mailbox-quota.example/upgrade?u=jordan.kim&t=1715600000",)
    assert inner.antispam["SFV"] == "NSPM" and inner.antispam["BCL"] == "2"
    assert message.original is inner
    assert message.dedupe_key == "mid:quota-notice-88412@mailbox-quota.example"
    assert message.attachments[0].declared_type == "message/rfc822"
    assert message.attachments[0].filename == "Your mailbox is almost full.eml"
    assert message.attachments[0].sha256 == inner.sha256
    # The wrapped message's bytes come back exactly as they sit in the report.
    start = raw.index(b"Received: from mail.mailbox-quota.example")
    end = raw.index(b"\r\n--_003_DM6PR04MB4972_--")
    assert original_message_bytes(raw) == raw[start:end]
    assert inner.sha256 == hashlib.sha256(raw[start:end]).hexdigest()


def test_round_trip_through_dict():
    message = parse_message(sample("forwarded-phish.eml"))
    assert ReportedMessage.from_dict(json.loads(json.dumps(message.to_dict()))) == message


# --- headers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Gr\u00fc\u00dfe aus K\u00f6ln"),
        ("=?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Gr\u00fc\u00dfe aus K\u00f6ln"),
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Caf\u00e9 cr\u00e8me"),
        ("=?iso-8859-1?b?Q2Fm6SBjcuhtZQ==?=", "Caf\u00e9 cr\u00e8me"),
        ("Re: =?utf-8?q?caf=C3=A9?= now", "Re: caf\u00e9 now"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # whitespace between encoded words goes
        ("=?utf-8?q?a?= b", "a b"),
        ("=?UTF-8?Q?=E2=82?=\r\n =?UTF-8?Q?=AC?=", "\u20ac"),  # a character split across two folded words
        ("=?utf-8*en?q?language_tag?=", "language tag"),  # RFC 2231 language suffix
        ("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4?=", "Gr\u00fc\u00dfe aus K\u00f6ln"),  # missing padding
        ("plain subject", "plain subject"),
    ],
)
def test_rfc2047_subjects(header, expected):
    message = parse_message(build(*BASE, f"Subject: {header}"))
    assert message.subject == expected
    assert message.flags == ()


def test_unknown_charset_in_subject_is_a_flag_not_an_error():
    message = parse_message(build(*BASE, "Subject: =?x-unknown?q?caf=C3=A9?= ok"))
    assert message.subject == "caf\u00e9 ok"
    assert "Subject: unknown charset x-unknown, read as UTF-8" in message.flags


def test_invalid_base64_encoded_word_is_kept_and_flagged():
    message = parse_message(build(*BASE, "Subject: =?utf-8?b?QUJDQ?= tail"))
    assert message.subject == "=?utf-8?b?QUJDQ?= tail"
    assert "Subject: an encoded word is not valid base64" in message.flags


def test_encoded_line_breaks_and_nul_never_reach_the_subject():
    message = parse_message(build(*BASE, "Subject: =?utf-8?q?a=0D=0AInjected:_x=00y?="))
    assert message.subject == "a  Injected: xy"
    assert_storable(message)


def test_8bit_headers_utf8_and_windows_1252():
    raw = (
        b"From: \xc3\x89lodie <elodie@example.com>\r\nTo: r@example.org\r\nMessage-ID: <8@example.com>\r\n"
        b"Subject: Caf\xe9 \x80 menu\r\n\r\nbody"
    )
    message = parse_message(raw)
    assert message.from_ == (Address("\u00c9lodie", "elodie@example.com"),)
    assert message.subject == "Caf\u00e9 \u20ac menu"
    assert "Subject: 8-bit text that is not UTF-8, read as Windows-1252" in message.flags
    assert_storable(message)


def test_addresses_are_split_before_names_are_decoded():
    # An encoded word must not be able to smuggle a second address or a comma into the list.
    raw = build(
        "From: =?utf-8?q?security=40contoso.example_=3Cadmin=40contoso.example=3E=2C?= <attacker@evil.example>",
        'To: =?utf-8?q?Doe=2C_John?= <john@example.com>, other@example.org, "Quoted, Name" <q@example.net>',
        "Cc: undisclosed-recipients:;",
        "Sender: =?iso-8859-1?q?B=E9a?= <bea@example.com>",
        "Message-ID: <a@example.com>",
    )
    message = parse_message(raw)
    assert message.from_ == (
        Address("security@contoso.example <admin@contoso.example>,", "attacker@evil.example"),
    )
    assert message.to == (
        Address("Doe, John", "john@example.com"),
        Address("", "other@example.org"),
        Address("Quoted, Name", "q@example.net"),
    )
    assert message.cc == ()
    assert message.sender == Address("B\u00e9a", "bea@example.com")
    assert message.sender_address == "attacker@evil.example"


def test_several_from_headers_use_the_first_and_say_so():
    message = parse_message(build("From: first@example.com", "From: second@example.com", "Message-ID: <x@y>"))
    assert message.from_ == (Address("", "first@example.com"),)
    assert "several From headers: the first was used" in message.flags


@pytest.mark.parametrize(
    ("header_lines", "expected"),
    [
        (["Message-ID: <abc@example.com>"], "abc@example.com"),
        (["Message-ID:   <abc@example.com>   "], "abc@example.com"),
        (["Message-ID:", " <folded@example.com>"], "folded@example.com"),
        (['Message-ID: <"a|b\\\\c"@example.com>'], '"a|b\\\\c"@example.com'),
        (['Message-ID: <"quoted; (odd)"@example.com> (comment)'], '"quoted; (odd)"@example.com'),
        (["Message-ID: <split@exa", " mple.com>"], "split@exa mple.com"),
        (["Message-ID: no-brackets@example.com"], "no-brackets@example.com"),
    ],
)
def test_message_ids(header_lines, expected):
    message = parse_message(build("From: a@example.com", "Subject: id", *header_lines))
    assert message.message_id == expected
    assert message.dedupe_key == "mid:" + expected.lower()


def test_missing_message_id_dedupes_on_the_content_hash():
    raw = build("From: a@example.com", "Subject: no id")
    message = parse_message(raw)
    assert message.message_id is None
    assert "no Message-ID header" in message.flags
    assert message.dedupe_key == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_empty_message_id_is_none():
    message = parse_message(build("From: a@example.com", "Message-ID: <>"))
    assert message.message_id is None
    assert "the Message-ID header is empty" in message.flags


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 14 May 2024 08:12:38 +0000", "2024-05-14T08:12:38+00:00"),
        ("14 May 2024 10:12:38 +0200", "2024-05-14T10:12:38+02:00"),
        ("Tue, 14 May 2024 08:12:38 -0000", "2024-05-14T08:12:38"),  # unknown zone: naive
    ],
)
def test_dates(value, expected):
    assert parse_message(build(*BASE, f"Date: {value}")).date == expected


def test_unreadable_date_is_none_and_a_flag():
    message = parse_message(build(*BASE, "Date: yesterday-ish, 99 Foo 99999999 99:99"))
    assert message.date is None
    assert "Date: could not be read" in message.flags


def test_authentication_results_rfc8601_with_reasons_and_several_headers():
    raw = build(
        *BASE,
        "Authentication-Results: mx.contoso.example 1; spf=fail (sender not permitted; see policy)",
        ' smtp.mailfrom=evil.example; dkim/1=fail reason="signature verification failed; bad key"',
        ' header.d=evil.example header.b="ab/cd"; dmarc=fail reason=policy header.from=contoso.example;',
        " arc=none; auth=pass (nested (comment) here) smtp.auth=user",
        "Authentication-Results: relay.evil.example; none",
        "Authentication-Results: spoof.evil.example;",
        "\tdmarc=pass (p=none (monitor)) header.from=contoso.example",
    )
    assert parse_message(raw).authentication == (
        AuthResult("spf", "fail", "sender not permitted; see policy", "mx.contoso.example", True),
        AuthResult("dkim", "fail", "signature verification failed; bad key", "mx.contoso.example", True),
        AuthResult("dmarc", "fail", "policy", "mx.contoso.example", True),
        AuthResult("arc", "none", "", "mx.contoso.example", True),
        AuthResult("auth", "pass", "nested (comment) here", "mx.contoso.example", True),
        AuthResult("dmarc", "pass", "p=none (monitor)", "spoof.evil.example", False),
    )


def test_authentication_results_exchange_online_form():
    raw = build(
        *BASE,
        "Authentication-Results: spf=pass (sender IP is 198.51.100.7)",
        " smtp.mailfrom=contoso.example; dkim=pass (signature was verified)",
        " header.d=contoso.example;contoso.example; dmarc=bestguesspass action=none",
        " header.from=contoso.example;compauth=pass reason=109",
    )
    assert parse_message(raw).authentication == (
        AuthResult("spf", "pass", "sender IP is 198.51.100.7", "", True),
        AuthResult("dkim", "pass", "signature was verified", "", True),
        AuthResult("dmarc", "bestguesspass", "", "", True),
        AuthResult("compauth", "pass", "109", "", True),
    )


def test_unterminated_quotes_and_comments_in_authentication_results():
    raw = build(*BASE, 'Authentication-Results: x.example; spf=pass reason="never closed', "X-Other: 1")
    message = parse_message(raw)
    assert message.authentication == (AuthResult("spf", "pass", "never closed", "x.example", True),)
    raw = build(*BASE, "Authentication-Results: x.example; dkim=fail (((never closed")
    assert parse_message(raw).authentication == (
        AuthResult("dkim", "fail", "((never closed", "x.example", True),
    )


def test_antispam_headers():
    raw = build(
        *BASE,
        "X-Forefront-Antispam-Report: CIP:2001:db8::7;CTRY:;LANG:de;scl:9;SRV:BULK;IPV:NLI;SFV:SPM;",
        " H:mail.example.net;PTR:;CAT:HPHISH;SFS:(13230031);DIR:INB;",
        "X-Microsoft-Antispam: BCL:7;ARA:1444111002;",
        "X-Forefront-Antispam-Report: SCL:-1;SFV:SKN;CAT:NONE;",
        "X-Microsoft-Antispam: BCL:0;",
    )
    message = parse_message(raw)
    assert message.antispam == {
        "CIP": "2001:db8::7",
        "SCL": "9",
        "IPV": "NLI",
        "SFV": "SPM",
        "CAT": "HPHISH",
        "BCL": "7",
    }
    assert "several X-Forefront-Antispam-Report headers: the topmost was used" in message.flags


# --- URLs -----------------------------------------------------------------------------------------------


def test_quoted_printable_html_with_entities_and_soft_breaks():
    markup = (
        '<p><a href=3D"https://ex.example/a?b=3D1&amp;c=3D2=\r\n&amp;d=3D3">pay</a>\r\n'
        '<a href=3D"  https://tab.example/x\ty">t</a>\r\n'
        '<a href=3D"ht\ntps://split-scheme.example/">s</a>\r\n'
        '<a href=3D"&#104;ttps://entity.example/">e</a>\r\n'
        '<a href=3D"mailto:x@example.com">m</a><a href=3D"/relative">r</a>\r\n'
        '<img src=3D"HTTPS://CDN.EXAMPLE/Logo.png">\r\n'
        '<form action=3D"https://post.example/login"></form>\r\n'
        '<div style=3D"background:url(https://bg.example/i.png)">see https://text.example/t.</div>\r\n'
        '<!--[if mso]><v:roundrect href=3D"https://mso.example/b?x=3D1&amp;y=3D2"></v:roundrect><![endif]-->\r\n'
        '<meta http-equiv=3D"refresh" content=3D"0;url=3Dhttps://refresh.example/">\r\n</p>'
    )
    message = parse_message(html_email(markup, encoding="quoted-printable"))
    assert message.urls == (
        "https://ex.example/a?b=1&c=2&d=3",
        "https://tab.example/xy",
        "https://split-scheme.example/",
        "https://entity.example/",
        "HTTPS://CDN.EXAMPLE/Logo.png",
        "https://post.example/login",
        "https://bg.example/i.png",
        "https://text.example/t",
        "https://mso.example/b?x=1&y=2",
        "https://refresh.example/",
    )


def test_urls_from_text_are_trimmed_and_deduplicated_in_first_seen_order():
    text = (
        "See https://a.example/x. Also (https://b.example/y), and https://a.example/x again!\r\n"
        'Wiki: https://en.wiki.example/Foo_(bar). Quoted: "https://q.example/z" <https://angle.example/>\r\n'
        "[https://square.example/s] http://plain.example/p?q=1;\r\n"
        "not links: hxxps://defanged.example ftp://files.example https:// https://.\r\n"
    )
    body = (
        "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + text
        + '--B\r\nContent-Type: text/html\r\n\r\n<a href="https://a.example/x">dup</a>'
        '<a href="https://html-only.example/">new</a>\r\n--B--\r\n'
    )
    raw = build(*BASE, 'Content-Type: multipart/alternative; boundary="B"', body=body)
    assert parse_message(raw).urls == (
        "https://a.example/x",
        "https://b.example/y",
        "https://en.wiki.example/Foo_(bar)",
        "https://q.example/z",
        "https://angle.example/",
        "https://square.example/s",
        "http://plain.example/p?q=1",
        "https://html-only.example/",
    )


def test_base64_text_body_with_a_declared_charset():
    body = base64.encodebytes("Pr\u00fcfen: https://b64.example/\u00fc\n".encode("iso-8859-1")).decode()
    raw = build(
        *BASE, "Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: base64", body=body
    )
    assert parse_message(raw).urls == ("https://b64.example/\u00fc",)


def test_url_count_and_length_are_capped():
    text = " ".join(f"https://u{i}.example/" for i in range(600))
    message = parse_message(text_email(text))
    assert len(message.urls) == 500
    assert message.urls[0] == "https://u0.example/" and message.urls[-1] == "https://u499.example/"
    assert "more than 500 links: the rest were not kept" in message.flags

    message = parse_message(text_email("https://long.example/" + "a" * 5000))
    assert message.urls == (("https://long.example/" + "a" * 5000)[:2048],)
    assert "a link longer than 2,048 characters was cut" in message.flags


def test_links_in_a_huge_html_part_are_still_found():
    markup = "<p>" + "<b>x</b>" * 80_000 + '<a href="https://after-the-cap.example/?a=1&amp;b=2">x</a>'
    message = parse_message(html_email(markup))
    assert message.urls == ("https://after-the-cap.example/?a=1&b=2",)
    assert any("too large to read in full" in flag for flag in message.flags)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "markup",
    [
        "<a " * 200_000 + '<a href="https://end.example/">',  # quadratic in HTMLParser.close()
        "<!--" * 200_000,
        "<![if " * 100_000,  # HTMLParser raises AssertionError on some marked sections
        "<!doctype" * 50_000 + "<" * 100_000,
        '<a href="https://x.example/' + "&" * 300_000,
    ],
    ids=["unclosed-tags", "unclosed-comments", "marked-sections", "doctype-and-lt", "ampersands"],
)
def test_pathological_html_is_bounded(markup):
    message = parse_message(html_email(markup))
    assert isinstance(message, ReportedMessage)
    assert_storable(message)


def test_broken_boundary_still_yields_the_links():
    raw = build(
        *BASE,
        'Content-Type: multipart/mixed; boundary="never"',
        body='--other\r\nContent-Type: text/html\r\n\r\n<a href="https://lost.example/?a=1&amp;b=2">x</a>\r\n',
    )
    message = parse_message(raw)
    assert message.urls == ("https://lost.example/?a=1&b=2",)
    assert "MIME: a MIME boundary was declared but never found" in message.flags


def test_boundary_that_never_closes():
    raw = build(
        *BASE,
        'Content-Type: multipart/mixed; boundary="open"',
        body="--open\r\nContent-Type: text/plain\r\n\r\nhttps://open.example/\r\n",
    )
    message = parse_message(raw)
    assert message.urls == ("https://open.example/",)
    assert "MIME: a MIME boundary was never closed" in message.flags


def test_unknown_body_charset_is_read_as_utf8_with_a_flag():
    raw = build(
        *BASE, "Content-Type: text/plain; charset=x-unknown", body=b"caf\xc3\xa9 https://u.example/\xff"
    )
    message = parse_message(raw)
    assert message.urls == ("https://u.example/\ufffd",)
    assert "body: unknown charset x-unknown, read as UTF-8" in message.flags


# --- attachments ----------------------------------------------------------------------------------------


def _zip(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "content")
    return buffer.getvalue()


def _pe() -> bytes:
    header = bytearray(b"MZ" + b"\x00" * 0x7E)
    header[0x3C:0x40] = (0x80).to_bytes(4, "little")
    return bytes(header) + b"PE\x00\x00" + b"\x00" * 64


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504

SNIFFED = [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "application/pdf"),
    (_zip(["notes.txt"]), "application/zip"),
    (
        _zip(["[Content_Types].xml", "_rels/.rels", "word/document.xml"]),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        _zip(["[Content_Types].xml", "xl/workbook.xml"]),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (_zip(["META-INF/MANIFEST.MF", "a/Main.class"]), "application/java-archive"),
    (OLE + "__substg1.0_0037001F".encode("utf-16-le"), "application/vnd.ms-outlook"),
    (OLE + "WordDocument".encode("utf-16-le"), "application/msword"),
    (OLE, "application/x-ole-storage"),
    (_pe(), "application/vnd.microsoft.portable-executable"),
    (b"MZ" + b"\x00" * 100, "application/x-dosexec"),
    (gzip.compress(b"hello", mtime=0), "application/gzip"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif"),
    (b"\xef\xbb\xbf  <!DOCTYPE html><html><body>x</body></html>", "text/html"),
    (b"<script>location='https://x.example/'</script>", "text/html"),
    (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
    (b"From: a@example.com\r\nSubject: inner\r\n\r\nhi", "message/rfc822"),
    (b"just some text\r\nover two lines\r\n", "text/plain"),
    (bytes(range(256)) * 4, "application/octet-stream"),
    (b"", "application/x-empty"),
]


@pytest.mark.parametrize(("data", "sniffed"), SNIFFED, ids=[s[1] + f"-{i}" for i, s in enumerate(SNIFFED)])
def test_attachment_size_hash_and_sniffed_type(data, sniffed):
    message = parse_message(with_attachment(data, 'filename="file.bin"'))
    assert len(message.attachments) == 1
    attachment = message.attachments[0]
    assert attachment.filename == "file.bin"
    assert attachment.declared_type == "application/octet-stream"
    assert attachment.sniffed_type == sniffed
    assert attachment.size == len(data)
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("filename*=UTF-8''r%C3%A9sum%C3%A9.pdf", "r\u00e9sum\u00e9.pdf"),
        ('filename="=?UTF-8?B?UmVjaG51bmcgZsO8ciBNw6Ryei5wZGY=?="', "Rechnung f\u00fcr M\u00e4rz.pdf"),
        ('filename="..\\\\..\\\\Windows\\\\evil.exe"', "evil.exe"),
        ('filename="C:/Users/x/report.pdf"', "report.pdf"),
        ('filename="a\\"b.txt"', 'a"b.txt'),
    ],
)
def test_attachment_names_are_decoded_and_lose_their_directories(params, expected):
    message = parse_message(with_attachment(b"%PDF-1.4", params))
    assert message.attachments[0].filename == expected


def test_inline_image_without_a_name_is_an_attachment_and_text_bodies_are_not():
    body = (
        '--R\r\nContent-Type: text/html\r\n\r\n<img src="cid:logo">\r\n'
        "--R\r\nContent-Type: image/png\r\nContent-ID: <logo>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(b"\x89PNG\r\n\x1a\nrest").decode()
        + "\r\n"
        "--R\r\nContent-Type: text/plain; name=notes.txt\r\n\r\nan attached text file https://not-a-body.example/\r\n"
        "--R--\r\n"
    )
    message = parse_message(build(*BASE, 'Content-Type: multipart/related; boundary="R"', body=body))
    assert [(a.filename, a.declared_type, a.sniffed_type) for a in message.attachments] == [
        ("", "image/png", "image/png"),
        ("notes.txt", "text/plain", "text/plain"),
    ]
    assert message.urls == ()


@pytest.mark.parametrize(
    ("encoded", "size", "flag"),
    [
        ("QUJDRA", 4, "MIME: invalid base64 padding"),  # decoded after padding
        ("QUJDQ", 5, "MIME: base64 data of an impossible length"),  # undecodable: kept as sent
    ],
)
def test_invalid_base64_attachment_is_flagged(encoded, size, flag):
    raw = build(
        *BASE,
        'Content-Type: multipart/mixed; boundary="X"',
        body=(
            "--X\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            f"{encoded}\r\n--X--\r\n"
        ),
    )
    message = parse_message(raw)
    assert message.attachments[0].filename == "a.pdf"
    assert message.attachments[0].size == size
    assert flag in message.flags


def test_8bit_bytes_in_a_content_type_do_not_leak_into_the_output():
    raw = build(*BASE, body="").replace(b"\r\n\r\n", b"\r\nContent-Type: appl\xe9cation/x-thing\r\n\r\ndata")
    message = parse_message(raw)
    assert message.attachments[0].declared_type == "appl\ufffdcation/x-thing"
    assert_storable(message)


# --- wrapped messages -----------------------------------------------------------------------------------

PHISH = build(
    "From: Payroll <payroll@evil.example>",
    "To: victim@example.org",
    "Subject: Salary update",
    "Message-ID: <Phish-1@Evil.Example>",
    "Content-Type: text/plain",
    body="Review it at https://payroll.evil.example/login\r\n",
)


def test_forward_as_attachment_reads_the_original():
    raw = forward(PHISH)
    message = parse_message(raw)
    assert message.inner is not None
    assert message.inner.subject == "Salary update"
    assert message.inner.urls == ("https://payroll.evil.example/login",)
    assert message.urls == ()
    assert message.dedupe_key == "mid:phish-1@evil.example"
    assert original_message_bytes(raw) == PHISH


def test_forward_of_a_forward_goes_to_the_innermost():
    raw = forward(forward(PHISH, message_id="first@example.org"), message_id="second@example.org")
    message = parse_message(raw)
    assert message.inner is not None and message.inner.inner is not None
    assert message.inner.message_id == "first@example.org"
    assert message.original.subject == "Salary update"
    assert message.dedupe_key == "mid:phish-1@evil.example"


def test_eml_file_attached_as_octet_stream_is_read_as_the_original():
    message = parse_message(with_attachment(PHISH, 'filename="suspicious.eml"'))
    assert message.inner is not None
    assert message.inner.message_id == "Phish-1@Evil.Example"
    assert message.attachments[0].sniffed_type == "message/rfc822"
    assert message.attachments[0].sha256 == hashlib.sha256(PHISH).hexdigest() == message.inner.sha256


def test_text_named_eml_that_is_not_an_email_is_only_an_attachment():
    message = parse_message(with_attachment(b"just notes", 'filename="notes.eml"'))
    assert message.inner is None
    assert message.attachments[0].filename == "notes.eml"


def test_only_the_first_wrapped_message_is_read():
    other = PHISH.replace(b"Phish-1", b"Phish-2")
    raw = build(
        *BASE,
        'Content-Type: multipart/mixed; boundary="M"',
        body=(
            b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + PHISH + b"\r\n"
            b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + other + b"\r\n--M--\r\n"
        ),
    )
    message = parse_message(raw)
    assert message.inner is not None and message.inner.message_id == "Phish-1@Evil.Example"
    assert len(message.attachments) == 2
    assert "1 more attached email(s) were listed but not read as the original" in message.flags


def test_wrapped_message_without_message_id_dedupes_on_its_own_bytes():
    inner = build("From: x@evil.example", "Subject: no id inside", body="hi\r\n")
    raw = forward(inner)
    message = parse_message(raw)
    assert message.inner is not None and message.inner.message_id is None
    assert message.dedupe_key == "sha256:" + hashlib.sha256(original_message_bytes(raw)).hexdigest()
    assert original_message_bytes(raw) == inner


def test_wrapping_depth_is_bounded():
    raw = PHISH
    for level in range(6):
        raw = forward(raw, message_id=f"level{level}@example.org")
    message = parse_message(raw, max_depth=3)
    chain = []
    node = message
    while node.inner is not None:
        node = node.inner
        chain.append(node.message_id)
    assert chain == ["level4@example.org", "level3@example.org", "level2@example.org"]
    assert "an attached email nested more than 3 deep was not read" in node.flags
    assert message.dedupe_key == "mid:level2@example.org"
    assert parse_message(raw, max_depth=0).inner is None


@pytest.mark.parametrize("content", [b"", b"\r\n  \r\n"], ids=["nothing", "blank-lines"])
def test_an_empty_attached_message_is_not_the_original(content):
    """Found by `make fuzz`: an empty message/rfc822 part became the original, and its zero bytes what
    original_message_bytes handed on to be submitted."""
    raw = forward(content)
    message = parse_message(raw)
    assert message.inner is None
    assert "an attached email is empty" in message.flags
    assert original_message_bytes(raw) == raw
    both = build(
        *BASE,
        'Content-Type: multipart/mixed; boundary="M"',
        body=b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + content + b"\r\n"
        b"--M\r\nContent-Type: message/rfc822\r\n\r\n" + PHISH + b"\r\n--M--\r\n",
    )
    assert original_message_bytes(both) == PHISH  # an empty one first does not hide the real one


def test_original_bytes_of_a_plain_message_are_the_input():
    raw = sample("credential-phish.eml")
    assert original_message_bytes(raw) == raw


# --- bounds and hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"   \r\n\t", bytearray()], ids=["empty", "whitespace", "bytearray"])
def test_empty_input_is_a_parse_error(raw):
    with pytest.raises(ParseError, match="empty"):
        parse_message(raw)


def test_oversized_input_is_a_parse_error():
    raw = text_email("x" * 2000)
    with pytest.raises(ParseError, match=r"largest accepted is 1 KB"):
        parse_message(raw, max_bytes=1024)
    assert parse_message(raw, max_bytes=len(raw)).size == len(raw)
    with pytest.raises(ParseError, match=r"30\.1 MB; the largest accepted is 25 MB"):
        parse_message(b"From: a@example.com\r\n" + b"x" * (30 * 1024 * 1024 + 100_000))


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (bytes(random.Random(7).randrange(256) for _ in range(4096)), "doesn't look like an email"),
        (b"%PDF-1.7\n1 0 obj\n", "doesn't look like an email"),
        (b"<!DOCTYPE html><html>Slack login</html>", "doesn't look like an email"),
        (b"Note: buy milk\n\nthanks", "doesn't look like an email"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "Outlook .msg"),
    ],
    ids=["random", "pdf", "html", "not-mail-header", "msg"],
)
def test_not_an_email_is_a_parse_error(raw, words):
    with pytest.raises(ParseError, match=re.escape(words)):
        parse_message(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"Subject: hi\r\n\r\nbody", True),
        (b"\xef\xbb\xbf\r\nReceived: from x\r\n\tby y\r\nX-Custom: 1\r\n\r\n", True),
        (b"From MAILER-DAEMON Thu Jan  1 00:00:00 2024\nFrom: a@example.com\n\nx", True),
        (b"X-Only: 1\r\n\r\n", True),
        (b"Subject hi\r\n\r\n", False),
        (b"Foo: bar\r\n\r\nbody", False),
        (b"hello world", False),
        (b"", False),
    ],
)
def test_looks_like_email(raw, expected):
    assert looks_like_email(raw) is expected


def test_memoryview_input_is_accepted():
    raw = sample("credential-phish.eml")
    assert parse_message(memoryview(raw)) == parse_message(raw)


def test_ten_thousand_nested_multiparts():
    parts = [b"From: a@example.com\r\nSubject: deep\r\nMessage-ID: <deep@example.com>\r\n"]
    for level in range(10_000):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level))
    parts.append(b"Content-Type: text/plain\r\n\r\nhttps://bottom.example/\r\n")
    parts.extend(b"--b%d--\r\n" % level for level in reversed(range(10_000)))
    message = parse_message(b"".join(parts))
    assert message.subject == "deep"
    assert message.message_id == "deep@example.com"
    assert any("nested too deep" in flag for flag in message.flags)


def test_moderately_deep_multiparts_stop_at_the_nesting_bound():
    parts = [b"From: a@example.com\r\nSubject: deep\r\n"]
    for level in range(60):
        parts.append(b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (level, level))
    parts.append(b"Content-Type: text/plain\r\n\r\nhttps://bottom.example/\r\n")
    parts.extend(b"--b%d--\r\n" % level for level in reversed(range(60)))
    message = parse_message(b"".join(parts))
    assert message.urls == ()
    assert "MIME parts nested more than 40 deep were not read" in message.flags


def test_two_thousand_nested_rfc822_messages():
    raw = (
        b"From: a@example.com\r\nSubject: top\r\n"
        + b"Content-Type: message/rfc822\r\n\r\nSubject: in\r\n" * 2000
    )
    message = parse_message(raw)
    assert message.subject == "top"
    assert message.flags


def test_mime_part_count_is_bounded():
    body = b"--b\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n" * 3000 + b"--b--\r\n"
    message = parse_message(build(*BASE, 'Content-Type: multipart/mixed; boundary="b"') + body)
    assert len(message.attachments) == 200
    assert "more than 1,000 MIME parts: the rest were not read" in message.flags


def test_too_many_short_lines_reads_headers_only():
    raw = build(*BASE, "Subject: lines", body=b"a\r" * 2_000_000)
    message = parse_message(raw)
    assert message.subject == "lines"
    assert any("too many lines" in flag for flag in message.flags)


@pytest.mark.parametrize(
    "header",
    [
        b"Subject: " + b"A" * 1_000_000,
        b"Content-Type: multipart/mixed; " + b"a;" * 500_000,
        b'Content-Type: multipart/mixed; x="' + b";" * 1_000_000,
        b"To: " + b"(" * 200_000,
        b"Cc: " + b"a:" * 100_000,
        b"Authentication-Results: " + b"=;(" * 100_000,
    ],
    ids=["subject", "content-type", "content-type-quoted", "to-parens", "cc-colons", "auth-results"],
)
def test_one_megabyte_header_lines(header):
    raw = b"From: a@example.com\r\nMessage-ID: <big@example.com>\r\n" + header + b"\r\n\r\nbody"
    message = parse_message(raw)
    assert message.message_id == "big@example.com"
    assert len(message.subject) <= 2000
    assert message.flags
    assert_storable(message)


def test_nul_bytes_and_control_characters_never_reach_the_output():
    raw = (
        b'From: "A\x00B\x1b[31m" <a@example.com>\r\nMessage-ID: <n\x00ul@example.com>\r\n'
        b"Subject: a\x00b\x07c\r\nContent-Type: text/html\r\n\r\n"
        b'<a href="https://nul.example/\x00x">x</a>\x00\x00'
    )
    message = parse_message(raw)
    assert message.subject == "abc"
    assert message.message_id == "nul@example.com"
    assert message.from_ == (Address("AB[31m", "a@example.com"),)
    assert message.urls == ("https://nul.example/x",)
    assert_storable(message)


FUZZ_SNIPPETS = [
    b"\x00",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"\r",
    b"=?",
    b"?=",
    b"=?x-unknown?b?!!?=",
    b"=?utf-8?q?=FF=FE?=",
    b"--",
    b"Content-Type: multipart/mixed; boundary=",
    b"Content-Type: message/rfc822\r\n\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Transfer-Encoding: quoted-printable\r\n",
    b"charset=punycode",
    b"charset*=x''%FF",
    b'<a href="',
    b"&#",
    b"&#xD800;",
    b"<!--",
    b"<![",
    b"(",
    b")",
    b'"',
    b"\\",
    b";",
    b":",
    b"<",
    b">",
    b"\xff\xfe",
    b"\xc3",
    b"https://",
    b"filename*0*=utf-8''%E2%82",
]


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randint(0, len(buffer))
        if choice < 0.3 and buffer:
            buffer[min(position, len(buffer) - 1)] = rng.randrange(256)
        elif choice < 0.6:
            buffer[position:position] = rng.choice(FUZZ_SNIPPETS)
        elif choice < 0.75:
            del buffer[position : position + rng.randint(1, 200)]
        elif choice < 0.85:
            chunk = bytes(buffer[position : position + rng.randint(1, 300)])
            buffer[position:position] = chunk * rng.randint(1, 20)
        else:
            del buffer[position:]
    return bytes(buffer)


def test_fuzz_only_parse_error_or_a_message_comes_out():
    corpus = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    corpus += [path.read_bytes() for path in sorted(SAMPLES.glob("*.eml"))]
    corpus += [
        forward(PHISH),
        with_attachment(OLE, 'filename="x.msg"'),
        html_email("<a href='https://x.example'>"),
    ]
    rng = random.Random(20240514)
    outcomes = {"message": 0, "parse_error": 0}
    for round_number in range(400):
        if round_number % 10 == 9:
            raw = b"From: a@example.com\r\n" + bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
        else:
            raw = _mutate(rng.choice(corpus), rng)
        try:
            message = parse_message(raw)
        except ParseError as error:
            assert str(error)
            outcomes["parse_error"] += 1
            continue
        assert isinstance(message, ReportedMessage)
        assert message.size == len(raw)
        assert message.sha256 == hashlib.sha256(raw).hexdigest()
        assert len(message.urls) <= 500 and len(message.flags) <= 40
        assert_storable(message)
        outcomes["message"] += 1
    assert outcomes["message"] > 300  # the mutations mostly keep a header block: the parser is exercised


# --- what the generated corpus found (bench.corpus --check); each message here is one rule of it, by hand ----

BINARY = bytes(range(256)) + b"\r\n\n\r\x00 end."  # every byte, bare CR and LF; no line break at the end


def _mixed(*parts: bytes, boundary: str = "P", close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return build(
        "From: Billing <billing@evil.example>",
        "To: victim@example.org",
        "Subject: Invoice",
        "Message-ID: <invoice-7@evil.example>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        body=body + (b"--" + boundary.encode() + b"--\r\n" if close else b""),
    )


def _part(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


NOTE = _part("Content-Type: text/plain", b"Pay today: https://pay.evil.example/now")


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("binary", BINARY),
        ("8bit", BINARY),
        ("7bit", "DESCRIPTION:Join at https://micr\u043esoft.test/login".encode()),  # 8-bit text under 7bit
    ],
)
def test_an_attachment_sent_without_a_transfer_encoding_is_hashed_as_received(encoding, data):
    """Rule "binary-attachment": compat32's get_payload() decoded the bytes as ASCII, replacing each 8-bit
    byte with U+FFFD, so size and sha256 were those of the replacement characters."""
    raw = _mixed(
        NOTE,
        _part(
            f"Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: {encoding}", data
        ),
    )
    for message in (parse_message(raw), parse_message(forward(raw)).inner):
        assert message is not None
        (attachment,) = message.attachments
        assert (attachment.size, attachment.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@pytest.mark.parametrize(
    ("charset", "body", "url"),
    [
        # "odd-charset-label": an unknown label is read as UTF-8, as the flag says
        ("x-unknown", "Sign in: https://p\u0430ypal.test/login".encode(), "https://p\u0430ypal.test/login"),
        # a body labelled UTF-8 that is not: read as Windows-1252, not as U+FFFD
        (
            "utf-8",
            b"Konto: https://caf\xe9.example/\x93login\x94",
            "https://caf\xe9.example/\u201clogin\u201d",
        ),
    ],
)
def test_an_8bit_body_under_a_wrong_label_keeps_its_non_ascii_links(charset, body, url):
    """compat32's get_payload() decoded the body with its label first, replacing what didn't fit; our own
    fallbacks (UTF-8 for an unknown label, Windows-1252 for bytes that aren't UTF-8) never saw the bytes."""
    raw = build(*BASE, "Subject: x", f"Content-Type: text/plain; charset={charset}", body=body)
    assert parse_message(raw).urls == (url,)


@pytest.mark.parametrize(
    "inner",
    [
        # "bad-boundary": the parts use another boundary than the one declared, with 8-bit bytes among them
        build(
            "From: a@evil.example",
            "Subject: Rechnung",
            "Message-ID: <bad-boundary@evil.example>",
            'Content-Type: multipart/mixed; boundary="declared"',
            body=b"--used\r\nContent-Type: text/plain\r\n\r\nF\xc3\xa4llig: https://r.evil.example/\r\n--used--\r\n",
        ),
        # "multipart-without-boundary"
        build(
            "From: a@evil.example",
            "Subject: Rechnung",
            "Message-ID: <no-boundary@evil.example>",
            "Content-Type: multipart/mixed",
            body=b"F\xc3\xa4llig: https://r.evil.example/\r\n",
        ),
        # found by reading the generator's code: a type naming a stdlib handler that expects parts
        build(
            "From: a@evil.example",
            "Subject: Rechnung",
            "Message-ID: <status@evil.example>",
            'Content-Type: multipart/mixed; boundary="S"',
            body=(
                b"--S\r\nContent-Type: text/plain\r\n\r\nhttps://r.evil.example/\r\n"
                b"--S\r\nContent-Type: message-delivery-status/x\r\n\r\nStatus: 5.0.0\r\n--S--\r\n"
            ),
        ),
    ],
    ids=["declared-boundary-never-used", "no-boundary", "message-delivery-status-type"],
)
def test_an_attached_message_with_an_unparsed_multipart_body_is_still_read(inner):
    """Re-serialising the attached message raised (UnicodeEncodeError on the 8-bit text of a multipart whose
    parts were never found; AttributeError on a handler given text instead of parts): the original was lost,
    and with it the phish's Message-ID, sender and links."""
    message = parse_message(forward(inner))
    assert message.inner is not None
    assert message.inner.subject == "Rechnung"
    assert message.inner.urls == ("https://r.evil.example/",)
    assert not [flag for flag in message.flags if "could not be read" in flag]
    assert original_message_bytes(forward(inner)) == inner


def test_an_unclosed_phish_hashes_the_same_alone_and_forwarded():
    """Rule "missing-end-boundary": the line break before the boundary that ends an attached message belongs
    to that boundary. The stdlib drops it except when the attached message's last part sits in a multipart
    that was never closed; then its last attachment hashed differently inside a report than on its own."""
    invite = b"BEGIN:VCALENDAR\r\nSUMMARY:Payroll\r\nEND:VCALENDAR\r\n"
    phish = _mixed(NOTE, _part("Content-Type: text/calendar; name=invite.ics", invite), close=False)
    alone = parse_message(phish)
    assert alone.attachments[0].sha256 == hashlib.sha256(invite).hexdigest()
    once = parse_message(forward(phish)).inner
    twice = parse_message(forward(forward(phish, message_id="a@example.org"), message_id="b@example.org"))
    assert once is not None and twice.original is not None
    assert once.attachments == alone.attachments == twice.original.attachments
    # inside a multipart that was never closed either, one boundary line ends both: one line break to drop
    report = forward(phish)[: -len(b"--FWD-report@example.org--\r\n")]
    assert (
        parse_message(forward(report, message_id="c@example.org")).original.attachments == alone.attachments
    )


def test_an_attached_message_keeps_its_own_line_breaks():
    """Rules "forward-mixed-line-endings" and "binary-attachment" in a forward: re-serialising the attached
    message rewrote every line break of its bodies to the report's, changing its attachments' bytes."""
    phish = _mixed(
        NOTE,
        _part(
            "Content-Type: application/octet-stream; name=a.bin\nContent-Transfer-Encoding: binary", BINARY
        ),
        _part("Content-Type: text/plain; name=notes.txt", b"line one\nline two\nend"),
    ).replace(b"\r\n--P", b"\n--P")
    alone = parse_message(phish)
    assert alone.attachments[0].sha256 == hashlib.sha256(BINARY).hexdigest()
    inner = parse_message(forward(phish)).inner
    assert inner is not None and inner.attachments == alone.attachments


# --- the parser's copies of stdlib behaviour, against the stdlib ---------------------------------------------

MIME_LINES = [
    "From: a@example.com",
    "From a@example.com Mon Nov 24",
    "Subject: x",
    " continued",
    "\tcontinued",
    "Content-Type: multipart/mixed; boundary=b",
    "Content-Type: multipart/alternative; boundary=c",
    "Content-Type: message/rfc822",
    "Content-Type: message/delivery-status",
    "Content-Transfer-Encoding: base64",
    "--b",
    "--b--",
    "--c",
    "--c--  ",
    "---",
    "",
    "QUJDRA==",
    "QUJD",
    "https://x.example/a:b",
    "no colon here",
    "key: value",
    ":starts with a colon",
    "tab\there",
    "caf\udce9",
    "=?utf-8?q?x?=",
]


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(MIME_LINES), st.sampled_from(["\r\n", "\n", "\r"])), max_size=60),
    st.integers(1, 64),
)
def test_runs_of_body_lines_read_the_same_tree_as_the_stdlib(lines, chunk):
    """bot.email._mime hands the feed parser runs of body lines as one string; the tree must be the same."""
    raw = "".join(line + ending for line, ending in lines).encode("ascii", "surrogateescape")
    ours = _mime.parse_bytes(raw)
    stdlib = BytesFeedParser(_factory=_mime.SafeMessage, policy=_mime.POLICY)
    for start in range(0, len(raw), _mime.FEED_CHUNK):
        stdlib.feed(raw[start : start + _mime.FEED_CHUNK])
    assert _tree(ours) == _tree(stdlib.close())
    assert _tree(_mime.parse_bytes(raw)) == _tree(_fed_in_pieces(raw, chunk))


def _fed_in_pieces(raw: bytes, size: int):
    parser = _mime.FeedParser()
    for start in range(0, len(raw), size):
        parser.feed(raw[start : start + size])
    return parser.close()


def _tree(message) -> list:
    return [
        (
            part.get_unixfrom(),
            part.items(),
            part._payload if isinstance(part._payload, str) else len(part._payload or ()),
            part.preamble,
            part.epilogue,
            [type(defect).__name__ for defect in part.defects],
        )
        for part in message.walk()
    ]


@settings(max_examples=examples(400), deadline=None)
@given(st.text(alphabet="QUJDRAa+/=\r\n !\udce9", max_size=40))
def test_lenient_base64_decodes_like_the_stdlib(text):
    """Base64 that a2b_base64 refuses is decoded a megabyte at a time; bytes and defects as compat32's."""
    raw = ("Content-Transfer-Encoding: base64\r\n\r\n" + text).encode("ascii", "surrogateescape")
    ours, stdlib = _mime.parse_bytes(raw), _mime.parse_bytes(raw)
    try:
        binascii.a2b_base64(text.encode("ascii", "ignore"))
    except binascii.Error:
        assert _mime.lenient_base64(ours, ours._payload) == stdlib.get_payload(decode=True)
        assert [type(d) for d in ours.defects] == [type(d) for d in stdlib.defects]


@pytest.mark.parametrize(
    "raw",
    [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml")) + sorted(SAMPLES.glob("*.eml"))]
    + [forward(PHISH), forward(forward(PHISH, message_id="x@example.org"))],
)
def test_attached_messages_are_written_as_the_stdlib_writes_them(raw):
    """For consistent mail (one kind of line break) the writer gives the stdlib's bytes, in one buffer."""
    raw, linesep = re.sub(rb"\r\n|\r|\n", b"\r\n", raw), "\r\n"
    for part in _mime.parse_bytes(raw).walk():
        buffer = io.BytesIO()
        BytesGenerator(buffer, mangle_from_=False, policy=_mime.POLICY.clone(linesep=linesep)).flatten(part)
        assert _flatten.flatten(part, linesep) == buffer.getvalue()
