"""Generated phishing-shaped emails: the parser benchmark's corpus, and a check of what the parser reads.

    python -m bench.corpus OUTDIR [--count 1000] [--seed 6]   write OUTDIR/00000.eml, OUTDIR/00001.eml, ...
    python -m bench.corpus --check [--count 1000] [--seed 6]  parse each one and compare with what went in

Message i of seed s is the same bytes on every run (random.Random seeded with the string "s:i"; no clock).
Standard library only. Messages are written as bytes by hand, not with email.mime, so that they can be wrong
the ways real phishing is wrong. Sizes spread over roughly 2-400 KB (median ~12 KB). What varies:

- structure: text, HTML, multipart/alternative, /related with inline images, /mixed with attachments; a report
  that forwards the phish as message/rfc822 one or two levels deep (or as an .eml, or base64-encoded, or with
  its own line breaks); inline forwards ("---------- Forwarded message ---------", "-----Original
  Message-----"); a delivery status notification carrying it;
- links: credential-phish paths, lookalike, punycode and Unicode hosts, URL shorteners, tracking parameters,
  links in href/src/action/background/srcset/conditional comments/meta refresh, entity-escaped;
- attachments (pdf, zip, docx, xlsm, html, png, ics, svg) in base64, quoted-printable, 7bit, 8bit, binary and
  uuencode, named in plain ASCII, RFC 2231 (with continuations), RFC 2047 inside quotes, or raw UTF-8;
- bodies in 7bit, 8bit, quoted-printable and base64, UTF-8 or UTF-16;
- headers: RFC 2047 encoded words in utf-8, iso-8859-1, windows-1252, shift_jis and koi8-r (quoted or not),
  Received chains, Authentication-Results (Exchange Online's and RFC 8601's forms, a forged one below),
  antispam headers, DKIM signatures;
- malformed bits: a boundary that never appears, a missing closing boundary, wrong or unknown charset labels,
  header lines of several KB, base64 without padding or with stray characters, broken quoted-printable, raw
  8-bit headers, bare-LF line endings, a multipart without a boundary, encoded words split inside a
  character, a header line without a colon, two From headers, no MIME-Version.

Each message comes with `Expect`: what a correct parser must read from it (subject, sender, links, attachment
names and hashes, authentication results, the wrapped original). `--check` reports every difference (and every
exception the parser swallowed into a flag); bench.parse only times them.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import codecs
import hashlib
import io
import random
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_SEED = 6
KB = 1024

# --- vocabulary ---------------------------------------------------------------------------------------------

BRANDS = [
    ("Microsoft 365", "microsoft"),
    ("DocuSign", "docusign"),
    ("DHL Express", "dhl"),
    ("PayPal", "paypal"),
    ("SharePoint Online", "sharepoint"),
    ("Adobe Acrobat Sign", "adobe"),
    ("Netflix", "netflix"),
    ("Chase Bank", "chase"),
    ("IT Service Desk", "servicedesk"),
    ("Payroll", "payroll"),
]
LOOKALIKE_SUFFIXES = ["-secure", "-login", "-verify", "support", "-account", "365", "-online", "-helpdesk"]
TLDS = ["example", "test", "example.net", "example.org", "co.example", "invalid"]
SHORTENERS = ["bit.ly", "tinyurl.com", "t.co", "rb.gy", "is.gd", "cutt.ly", "t.ly", "shorturl.at"]
CREDENTIAL_PATHS = [
    "/login",
    "/owa/auth/logon.aspx",
    "/common/oauth2/v2.0/authorize",
    "/wp-includes/js/office365/index.php",
    "/secure/verify",
    "/sharepoint/shared/document.html",
    "/docusign/envelope/review",
    "/account/unlock",
    "/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
    "/~user/.well-known/pki-validation/auth.php",
]
TRACKING = ["utm_source=email", "utm_medium=mail", "utm_campaign=q4-review", "mc_eid=8f3a1c", "fbclid=IwAR3x"]
COLLEAGUES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
ORG = "contoso.example"

# (charset, subject, display name) for RFC 2047 encoded words; every text round-trips through its charset.
ENCODED_TEXTS = [
    ("utf-8", "Ihr Konto wurde gesperrt – bitte bestätigen Sie ✅", "Sicherheitsteam Müller"),
    ("iso-8859-1", "Votre compte a été suspendu, réactivez-le aujourd'hui", "Équipe Sécurité"),
    ("windows-1252", "Invoice “overdue” – €1,240.00 payable today", "Accounts Payable • Billing"),
    ("shift_jis", "アカウントの確認が必要です（至急）", "セキュリティ担当"),
    ("koi8-r", "Ваш пароль истекает сегодня", "Служба поддержки"),
]
PLAIN_SUBJECTS = [
    "Action required: your mailbox is almost full",
    "You have (3) undelivered messages",
    "Shared document: Q4 bonus structure.xlsx",
    "Your package could not be delivered",
    "Unusual sign-in activity",
    "Please review and sign: NDA_2026.pdf",
    "Password expires in 24 hours",
    "Voicemail received (0:42)",
]
# Charset labels seen in the wild that a parser must cope with; the text under them is plain ASCII.
ODD_CHARSET_LABELS = [
    "utf8",
    "x-unknown",
    "unicode-1-1-utf-7x",
    "ks_c_5601-1987",
    '"utf-8"',
    "UTF-8 ",
    "x-mac-roman",
]


@dataclass
class Expect:
    """What a correct parser reads from one message. None or empty: not checked (malformed on purpose)."""

    subject: str | None = None
    from_address: str | None = None
    urls: tuple[str, ...] = ()  # each must be among the message's own links
    attachments: tuple[tuple[str, str | None], ...] = ()  # (filename, sha256 or None when not checked)
    auth: tuple[tuple[str, str], ...] = ()  # (method, result) of the topmost Authentication-Results
    inner: Expect | None = None  # the message forwarded as an attachment


@dataclass
class Sample:
    name: str
    data: bytes
    expect: Expect
    traits: tuple[str, ...] = ()  # the generator rules that shaped it ("html", "forward-2", "bad-boundary")


@dataclass
class _Part:
    """One MIME entity: header lines (already encoded) and a body (bytes), or child parts."""

    headers: list[str]
    body: bytes = b""
    children: list[_Part] = field(default_factory=list)
    boundary: str = ""
    close: bool = True  # write the closing boundary
    faithful: bool = True  # its charset label reads its (UTF-8) text back as written
    announced_boundary: str | None = None  # the boundary the Content-Type says, when it lies


# --- building blocks ---------------------------------------------------------------------------------------


class _Maker:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.traits: list[str] = []
        self._boundaries = 0

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def pick(self, options):
        return self.rng.choice(options)

    def token(self, length: int = 8) -> str:
        return "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(length))

    def boundary(self) -> str:
        self._boundaries += 1
        style = self.rng.randrange(4)
        if style == 0:
            return f"----=_NextPart_{self._boundaries:03d}_{self.token(4).upper()}_{self.token(8).upper()}"
        if style == 1:
            return f"000000000000{self.token(16)}"  # Gmail's shape
        if style == 2:
            return f"_{self._boundaries:03d}_{self.token(12)}_"  # Exchange's shape
        return f"=_{self.token(20)}"  # quoted on use: '=' needs quoting in a parameter

    # --- hosts and links ---

    def phish_host(self) -> str:
        brand = self.pick(BRANDS)[1]
        kind = self.rng.randrange(6)
        tld = self.pick(TLDS)
        if kind == 0:  # homoglyph swaps
            swapped = brand.replace("o", "0", 1).replace("l", "1", 1).replace("m", "rn", 1)
            return f"{swapped}-{self.token(4)}.{tld}"
        if kind == 1 and self.chance(0.4):  # the same lookalike, not punycoded: what the HTML says
            spoof = brand.replace("a", "\u0430", 1).replace("o", "\u043e", 1).replace("e", "\u0435", 1)
            return (spoof if spoof != brand else "\u0430" + brand[1:]) + f".{tld}"
        if kind == 1:  # punycode of a Cyrillic lookalike ("а" U+0430 for "a", "о" U+043E for "o")
            spoof = brand.replace("a", "\u0430", 1).replace("o", "\u043e", 1)
            if spoof == brand:
                spoof = "\u0430" + brand[1:]
            return spoof.encode("idna").decode("ascii") + f".{tld}"
        if kind == 2:  # brand as a subdomain of an unrelated host
            return f"{brand}.com.{self.token(6)}-{self.pick(LOOKALIKE_SUFFIXES).strip('-')}.{tld}"
        if kind == 3:  # compromised site
            return f"www.{self.token(7)}-{self.pick(['bakery', 'dental', 'motors', 'church', 'farm'])}.{tld}"
        if kind == 4:  # cloud hosting
            host = self.pick(
                ["web.core.windows.net", "firebaseapp.com", "r2.dev", "pages.dev", "blob.core.windows.net"]
            )
            return f"{self.token(10)}.{host}"
        return f"{brand}{self.pick(LOOKALIKE_SUFFIXES)}.{tld}"

    def url(self) -> str:
        kind = self.rng.randrange(10)
        if kind < 2:
            return f"https://{self.pick(SHORTENERS)}/{self.token(self.rng.randrange(5, 9))}"
        host = self.phish_host()
        scheme = "http" if self.chance(0.15) else "https"
        port = f":{self.pick([8080, 8443, 4433])}" if self.chance(0.05) else ""
        path = self.pick(CREDENTIAL_PATHS)
        query = []
        if self.chance(0.5):
            query.append(f"email={self.pick(COLLEAGUES)}%40{ORG}")
        if self.chance(0.4):
            query.extend(self.rng.sample(TRACKING, self.rng.randrange(1, 4)))
        if self.chance(0.3):
            query.append(f"token={self.token(24)}")
        tail = ("?" + "&".join(query)) if query else ""
        fragment = (
            f"#{base64.urlsafe_b64encode(f'{self.pick(COLLEAGUES)}@{ORG}'.encode()).decode().rstrip('=')}"
        )
        return f"{scheme}://{host}{port}{path}{tail}{fragment if self.chance(0.2) else ''}"

    def urls(self, low: int, high: int) -> list[str]:
        found: list[str] = []
        for _ in range(self.rng.randrange(low, high + 1)):
            url = self.url()
            if url not in found:
                found.append(url)
        return found

    # --- text ---

    def paragraph(self) -> str:
        lines = [
            "We detected unusual activity on your account and have temporarily limited access.",
            "To avoid permanent suspension, please verify your identity within 24 hours.",
            "Your mailbox has exceeded its storage quota; incoming messages are being held.",
            "A document has been shared with you and requires your electronic signature.",
            "Failure to complete this step will result in loss of access to company resources.",
            "This is an automated message from the IT department. Please do not reply.",
            "Kindly confirm the payment details below so the invoice can be processed today.",
            "Your password is due to expire. Keep your current password using the link below.",
        ]
        return " ".join(self.rng.sample(lines, self.rng.randrange(2, 5)))

    def filler_text(self, size: int) -> str:
        words = [
            "account",
            "verify",
            "secure",
            "document",
            "invoice",
            "payment",
            "access",
            "review",
            "urgent",
            "update",
            "confirm",
            "mailbox",
            "password",
            "shared",
            "pending",
            "notice",
        ]
        out: list[str] = []
        length = 0
        line: list[str] = []
        while length < size:
            word = self.rng.choice(words)
            line.append(word)
            length += len(word) + 1
            if len(line) >= 12:
                out.append(" ".join(line))
                line = []
        out.append(" ".join(line))
        return "\n".join(out)

    def plain_body(self, urls: list[str], extra: int) -> str:
        lines = ["Dear user,", "", self.paragraph(), ""]
        for url in urls:
            before, after = self.pick(
                [
                    ("Click here: ", ""),
                    ("Verify now -> ", " "),
                    ("", "."),
                    ("Open: <", ">"),
                    ("(", ")"),
                    ('"', '",'),
                ]
            )
            lines.append(before + url + after)
        lines += ["", self.paragraph(), "", "Regards,", self.pick(BRANDS)[0] + " Team"]
        if extra:
            lines += ["", self.filler_text(extra)]
        return "\n".join(lines)

    def html_body(self, urls: list[str], extra: int) -> str:
        rows = []
        for index, url in enumerate(urls):
            escaped = url.replace("&", "&amp;")
            style = (index + self.rng.randrange(8)) % 8
            if style == 0:
                rows.append(f'<p><a href="{escaped}" style="color:#0067b8">Verify your account</a></p>')
            elif style == 1:
                rows.append(
                    f'<table><tr><td background="{escaped}" bgcolor="#0078d4">'
                    f'<a href="{escaped}">REVIEW DOCUMENT</a></td></tr></table>'
                )
            elif style == 2:
                rows.append(
                    f'<form action="{escaped}" method="post"><input type="password" name="pw">'
                    '<button type="submit">Sign in</button></form>'
                )
            elif style == 3:
                rows.append(f'<img src="{escaped}" width="1" height="1" alt="">')
            elif style == 4:
                rows.append(
                    f'<!--[if mso]><v:roundrect href="{escaped}" arcsize="10%"><![endif]-->'
                    f'<a href="{escaped}" target="_blank">Open</a>'
                )
            elif style == 5:
                rows.append(
                    f"<div style=\"background-image:url('{escaped}')\">Click below</div>"
                    f"<p>Or paste this link: {escaped}</p>"
                )
            elif style == 6:
                rows.append(
                    f'<a href="\n {escaped}\n" title="https://login.microsoftonline.com/">'
                    "https://login.microsoftonline.com/</a>"
                )
            else:
                rows.append(f'<img srcset="{escaped} 2x" src="cid:logo@01DA0000"><span>{escaped}</span>')
        meta = ""
        if urls and self.chance(0.1):
            meta = f'<meta http-equiv="refresh" content="0; url={urls[0].replace("&", "&amp;")}">'
        hidden = (
            f'<div style="display:none;font-size:0">{self.filler_text(200)}</div>' if self.chance(0.3) else ""
        )
        bulk = f"<div>{self.filler_text(extra)}</div>" if extra else ""
        return (
            '<!DOCTYPE html><html><head><meta charset="utf-8">'
            + meta
            + "<style>body{font-family:Segoe UI,Arial}</style></head><body>"
            + hidden
            + f"<p>{self.paragraph()}</p>"
            + "\n".join(rows)
            + f"<p>{self.paragraph()}</p>"
            + bulk
            + '<p style="font-size:10px">&copy; 2026 Microsoft Corporation. One Microsoft Way.</p>'
            + "</body></html>"
        )

    # --- attachments ---

    def attachment(self, size: int) -> tuple[str, str, bytes]:
        """(filename, content type, bytes)."""
        kind = self.rng.randrange(8)
        name = self.pick(
            [
                "Invoice",
                "Remittance",
                "Scan",
                "Payment_Advice",
                "DHL_AWB",
                "Contract",
                "Statement",
                "Rechnung_Übersicht",
                "請求書",
                "Счёт-фактура",
                "Facture n°",
                "Zahlungsbestätigung",
            ]
        )
        name += f"_{self.rng.randrange(10000, 99999)}"
        if kind == 0:
            body = (
                b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R /OpenAction 3 0 R >>\n"
                b"endobj\n3 0 obj\n<< /S /URI /URI (" + self.url().encode() + b") >>\nendobj\n"
                b"4 0 obj\n<< /Length "
                + str(size).encode()
                + b" /Filter /FlateDecode >>\nstream\n"
                + self.rng.randbytes(size)
                + b"\nendstream\nendobj\n%%EOF\n"
            )
            return f"{name}.pdf", "application/pdf", body
        if kind == 1:
            return (
                f"{name}.zip",
                "application/zip",
                self._zip(
                    [
                        (f"{name}.js", self.filler_text(size // 2).encode()),
                        (f"{name}.lnk", self.rng.randbytes(size // 2)),
                    ]
                ),
            )
        if kind == 2:
            document = (
                '<?xml version="1.0"?><w:document><w:body><w:p><w:r><w:t>'
                + self.filler_text(size)
                + "</w:t></w:r></w:p></w:body></w:document>"
            ).encode()
            return (
                f"{name}.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                self._zip(
                    [
                        ("[Content_Types].xml", b'<?xml version="1.0"?><Types/>'),
                        ("word/document.xml", document),
                        ("word/_rels/document.xml.rels", f'<Relationship Target="{self.url()}"/>'.encode()),
                    ]
                ),
            )
        if kind == 3:
            page = (
                f'<html><head><title>Sign in</title></head><body><form action="{self.url()}" method="post">'
                '<input name="login"><input type="password" name="passwd"><script>var a=\''
                + base64.b64encode(self.rng.randbytes(size)).decode()
                + "';</script></form></body></html>"
            )
            return f"{name}.html", "text/html", page.encode()
        if kind == 4:
            return (
                f"image{self.rng.randrange(1, 9):03d}.png",
                "image/png",
                b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(size),
            )
        if kind == 5:
            event = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Payroll review\r\n"
                f"DESCRIPTION:Join at {self.url()}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            )
            return "invite.ics", "text/calendar", event.encode()
        if kind == 6:
            svg = (
                f'<svg xmlns="http://www.w3.org/2000/svg"><script>location="{self.url()}"</script>'
                f"<!-- {self.filler_text(size)} --></svg>"
            )
            return f"{name}.svg", "image/svg+xml", svg.encode()
        return (
            f"{name}.xlsm",
            "application/vnd.ms-excel.sheet.macroEnabled.12",
            self._zip(
                [("[Content_Types].xml", b"<Types/>"), ("xl/vbaProject.bin", self.rng.randbytes(size))]
            ),
        )

    def _zip(self, entries: list[tuple[str, bytes]]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for name, data in entries:
                archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 24, 9, 14, 0)), data)
        return buffer.getvalue()

    # --- headers ---

    def encoded_word(self, text: str, charset: str, *, split_inside_character: bool = False) -> str:
        """RFC 2047 encoded words, folded; B or Q at random."""
        data = text.encode(charset)
        use_b = self.chance(0.6) or charset in ("shift_jis", "koi8-r")
        # Encoded words of at most ~45 bytes each; split on character boundaries unless told otherwise.
        pieces: list[bytes] = []
        if split_inside_character:
            pieces = [data[i : i + 13] for i in range(0, len(data), 13)]
        else:
            current = b""
            for char in text:
                encoded = char.encode(charset)
                if len(current) + len(encoded) > 30:
                    pieces.append(current)
                    current = b""
                current += encoded
            if current:
                pieces.append(current)
        words = []
        for piece in pieces:
            if use_b:
                words.append(f"=?{charset}?B?{base64.b64encode(piece).decode()}?=")
            else:
                quoted = "".join(
                    chr(byte)
                    if (chr(byte).isalnum() and byte < 128)
                    else ("_" if byte == 32 else f"={byte:02X}")
                    for byte in piece
                )
                words.append(f"=?{charset}?Q?{quoted}?=")
        return "\r\n ".join(words)

    def received_chain(self, sender_host: str) -> list[str]:
        hops = []
        ip = f"203.0.113.{self.rng.randrange(1, 255)}"
        for hop in range(self.rng.randrange(2, 7)):
            site = self.pick(["BN8", "CY4", "DM6", "SN1", "AM6"])
            frontend = f"{site}NAM{self.rng.randrange(10, 12)}FT{self.rng.randrange(1, 99):03d}"
            if hop == 0:
                line = (
                    f"Received: from {sender_host} ({sender_host} [{ip}])\r\n by {frontend}.mail.protection.outlook.com"
                    f" (10.13.{self.rng.randrange(255)}.{self.rng.randrange(255)}) with Microsoft SMTP Server"
                    " (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)\r\n"
                    f" id 15.20.{self.rng.randrange(6000, 8000)}.{self.rng.randrange(1, 40)} via Frontend Transport;"
                    " Mon, 24 Nov 2026 09:14:00 +0000"
                )
            else:
                line = (
                    f"Received: from {frontend}.namprd11.prod.outlook.com"
                    f" (2603:10b6:{self.rng.randrange(100, 999)}::{hop})"
                    f"\r\n by {frontend}.namprd11.prod.outlook.com with HTTPS; Mon, 24 Nov 2026 09:1{hop}:00 +0000"
                )
            hops.append(line)
        hops.reverse()
        return hops

    def authentication(self, from_domain: str) -> tuple[list[str], tuple[tuple[str, str], ...]]:
        spf = self.pick(["pass", "fail", "softfail", "none", "temperror", "neutral"])
        dkim = self.pick(["pass", "fail", "none"])
        dmarc = self.pick(["pass", "fail", "bestguesspass", "none"])
        if self.chance(0.6):  # Exchange Online's form: no authserv-id
            text = (
                f"Authentication-Results: spf={spf} (sender IP is 203.0.113.{self.rng.randrange(1, 255)})\r\n"
                f" smtp.mailfrom={from_domain}; dkim={dkim}"
                f" ({'message not signed' if dkim == 'none' else 'signature was verified'})\r\n"
                f" header.d={from_domain};dmarc={dmarc} action={'none' if dmarc == 'pass' else 'quarantine'}\r\n"
                f" header.from={from_domain};compauth={'pass' if dmarc == 'pass' else 'fail'}"
                f" reason={self.rng.randrange(0, 999):03d}"
            )
            results = (("spf", spf), ("dkim", dkim), ("dmarc", dmarc))
        else:
            text = (
                f"Authentication-Results: mx.{ORG};\r\n\tspf={spf} smtp.mailfrom={from_domain};\r\n"
                f'\tdkim={dkim} header.d={from_domain} header.s=selector1 header.b="{self.token(8)}";\r\n'
                f"\tdmarc={dmarc} (p=reject dis=none) header.from={from_domain}"
            )
            results = (("spf", spf), ("dkim", dkim), ("dmarc", dmarc))
        lines = [text]
        if self.chance(0.3):  # a forged one further down, added by the sender
            lines.append(
                f"Authentication-Results: {from_domain}; spf=pass smtp.mailfrom={from_domain}; dkim=pass"
            )
        return lines, results


# --- messages ------------------------------------------------------------------------------------------------


def _serialise(part: _Part, eol: bytes) -> bytes:
    out = io.BytesIO()
    _write(part, out, eol)
    return out.getvalue()


def _write(part: _Part, out: io.BytesIO, eol: bytes) -> None:
    for header in part.headers:
        out.write(header.encode("utf-8", "surrogateescape").replace(b"\r\n", eol) + eol)
    out.write(eol)
    if not part.children:
        out.write(part.body)
        return
    if part.body:  # preamble
        out.write(part.body + eol)
    for child in part.children:
        out.write(b"--" + part.boundary.encode() + eol)
        _write(child, out, eol)
        out.write(eol)
    if part.close:
        out.write(b"--" + part.boundary.encode() + b"--" + eol)


def _multipart(maker: _Maker, kind: str, children: list[_Part]) -> _Part:
    boundary = maker.boundary()
    value = boundary if "=" not in boundary and maker.chance(0.3) else f'"{boundary}"'
    return _Part(
        [f"Content-Type: multipart/{kind};\r\n\tboundary={value}"], children=children, boundary=boundary
    )


def _text_part(maker: _Maker, subtype: str, text: str, *, force_encoding: str | None = None) -> _Part:
    encoding = force_encoding or maker.pick(
        ["7bit", "quoted-printable", "base64", "8bit", "quoted-printable"]
    )
    charset = "utf-8"
    data = text.encode("utf-8")
    traits = maker.traits
    if encoding == "7bit" and not text.isascii():
        encoding = "8bit"
    if maker.chance(0.08):
        charset = maker.pick(ODD_CHARSET_LABELS)
        traits.append("odd-charset-label")
    elif encoding == "8bit" and maker.chance(0.15):
        charset = "iso-8859-1"  # the bytes are UTF-8: the label lies
        traits.append("wrong-charset")
    faithful = _reads_as_utf8(charset)
    if subtype == "html" and encoding == "base64" and maker.chance(0.1):
        charset = "utf-16"
        data = text.encode("utf-16")
        traits.append("utf-16-html")
    if encoding == "quoted-printable":
        body = binascii.b2a_qp(data, istext=False)
        if maker.chance(0.1):
            body += b"=ZZ broken escape and a line longer than seventy-six characters " * 3
            traits.append("broken-qp")
    elif encoding == "base64":
        body = base64.encodebytes(data)
    else:
        body = data
    body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    headers = [f"Content-Type: text/{subtype}; charset={charset}", f"Content-Transfer-Encoding: {encoding}"]
    return _Part(headers=headers, body=body, faithful=faithful)


def _reads_as_utf8(label: str) -> bool:
    """Whether a reader decodes UTF-8 text under this label as UTF-8 (an unknown label: as UTF-8 too)."""
    name = label.strip().strip('"').lower()
    try:
        return codecs.lookup(name).name in ("utf-8", "utf-16")
    except LookupError:
        return True


def _attachment_part(
    maker: _Maker, name: str, content_type: str, data: bytes, *, inline: bool = False
) -> tuple[_Part, str | None]:
    """The part, and the sha256 of the bytes it carries (None: base64 damaged on purpose)."""
    exact = True
    if content_type == "text/calendar" and maker.chance(0.5):
        body = data
        encoding = "7bit"
    elif content_type in ("text/html", "image/svg+xml") and maker.chance(0.3):
        body = binascii.b2a_qp(data, istext=False)
        encoding = "quoted-printable"
    elif maker.chance(0.05):  # raw bytes: allowed by RFC 3030 (BINARYMIME), and sent without it
        body = data + b"."  # never ends in a line break, which would belong to the boundary
        data = body
        encoding = maker.pick(["binary", "8bit"])
        maker.traits.append("binary-attachment")
    elif maker.chance(0.03):
        body = _uuencode(name, data)
        encoding = "x-uuencode"
        maker.traits.append("uuencode")
    else:
        body = base64.encodebytes(data)
        encoding = "base64"
        if maker.chance(0.05):
            body = body.rstrip(b"\n").rstrip(b"=")[:-1] + b"\n"  # padding and a character lost
            maker.traits.append("base64-no-padding")
            exact = False
        elif maker.chance(0.04):
            body = body.replace(b"\n", b" !\n", 3)
            maker.traits.append("base64-stray-characters")
    if encoding not in ("binary", "8bit"):
        body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    kind = "inline" if inline else "attachment"
    style = maker.rng.randrange(10) if not name.isascii() or maker.chance(0.3) else 0
    if style in (1, 2):  # RFC 2231
        disposition = f"Content-Disposition: {kind};\r\n\tfilename*=utf-8''{_percent(name)}"
        type_name = f'name="{name.encode("ascii", "replace").decode() if style == 1 else "attachment"}"'
        maker.traits.append("filename-rfc2231")
    elif style in (3, 4):  # RFC 2231 continuations, as Thunderbird writes long names
        pieces = [_percent(name[i : i + 8]) for i in range(0, len(name), 8)]  # never inside a character
        pieces[0] = "utf-8''" + pieces[0]
        disposition = f"Content-Disposition: {kind};" + ";".join(
            f"\r\n\tfilename*{n}*={piece}" for n, piece in enumerate(pieces)
        )
        type_name = "name=attachment"
        maker.traits.append("filename-rfc2231-continuations")
    elif style in (5, 6, 7):  # RFC 2047 inside a quoted parameter: forbidden, and what Outlook and Gmail send
        word = maker.encoded_word(name, "utf-8").replace("\r\n ", "")
        disposition = f'Content-Disposition: {kind}; filename="{word}"'
        type_name = f'name="{word}"'
        maker.traits.append("filename-rfc2047")
    elif style == 8:  # raw UTF-8 in the header
        disposition = f'Content-Disposition: {kind}; filename="{name}"'
        type_name = f'name="{name}"'
        maker.traits.append("filename-8bit")
    else:
        disposition = f'Content-Disposition: {kind}; filename="{name}"'
        type_name = f'name="{name}"'
    if style not in (1, 2, 3, 4) and maker.chance(
        0.1
    ):  # the name only in Content-Type, as old clients write it
        disposition = ""
    headers = [f"Content-Type: {content_type}; {type_name}", f"Content-Transfer-Encoding: {encoding}"]
    headers[1:1] = [disposition] if disposition else []
    if inline:
        headers.append(f"Content-ID: <{maker.token(10)}@01DA0000>")
    return _Part(headers=headers, body=body), hashlib.sha256(data).hexdigest() if exact else None


def _uuencode(name: str, data: bytes) -> bytes:
    lines = [f"begin 644 {name.encode('ascii', 'replace').decode()}".encode()]
    lines += [binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    lines += [b"`", b"end", b""]
    return b"\n".join(lines)


def _percent(text: str) -> str:
    return "".join(
        char
        if char.isalnum() and char.isascii() or char in "._-"
        else "".join(f"%{b:02X}" for b in char.encode())
        for char in text
    )


def _phish(maker: _Maker, target_size: int) -> tuple[_Part, Expect]:
    """One phishing email as its sender wrote it."""
    rng = maker.rng
    brand_name, brand = maker.pick(BRANDS)
    host = maker.phish_host()
    from_address = f"{maker.pick(['no-reply', 'security', 'billing', 'notification', 'admin', brand])}@{host}"
    expect = Expect(from_address=from_address)

    # Subject and display name, plain or RFC 2047 in one of five charsets.
    if maker.chance(0.45):
        charset, subject, display = maker.pick(ENCODED_TEXTS)
        split = charset == "utf-8" and maker.chance(0.2)
        if split:
            maker.traits.append("encoded-word-split-inside-character")
        subject_header = "Subject: " + maker.encoded_word(subject, charset, split_inside_character=split)
        if maker.chance(0.3):  # quoted: not allowed by RFC 2047, and common
            from_header = f'From: "{maker.encoded_word(display, charset)}" <{from_address}>'
            maker.traits.append("quoted-encoded-word")
        else:
            from_header = f"From: {maker.encoded_word(display, charset)} <{from_address}>"
        maker.traits.append(f"rfc2047-{charset}")
    elif maker.chance(0.08):
        subject = "Überprüfung erforderlich: Konto – Passwort läuft ab"
        subject_header = "Subject: " + subject  # raw UTF-8 in a header, no encoded word
        from_header = f'From: "{brand_name}" <{from_address}>'
        maker.traits.append("8bit-header")
    else:
        subject = maker.pick(PLAIN_SUBJECTS)
        if maker.chance(0.2):
            subject = f"{subject} [Ref: {maker.token(6).upper()}]"
        subject_header = "Subject: " + subject
        from_header = f'From: "{brand_name}" <{from_address}>'
    expect.subject = subject

    auth_lines, auth = maker.authentication(host)
    expect.auth = auth
    headers = [*maker.received_chain(f"mail-{maker.token(5)}.{host}"), *auth_lines]
    if maker.chance(0.5):
        headers.append(
            f"X-Forefront-Antispam-Report: CIP:203.0.113.{rng.randrange(1, 255)};CTRY:NL;LANG:en;"
            f"SCL:{rng.randrange(0, 10)};SRV:;IPV:NLI;SFV:{maker.pick(['SPM', 'NSPM'])};H:{host};"
            "PTR:InfoDomainNonexistent;"
            f"CAT:{maker.pick(['PHISH', 'SPM', 'NONE'])};SFS:(13230031)(4636009)(376002);DIR:INB;"
        )
        headers.append(f"X-Microsoft-Antispam: BCL:{rng.randrange(0, 9)};")
    if maker.chance(0.4):
        headers.append(
            f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={host}; s=s1;\r\n\th=from:to:subject:date;"
            f" bh={base64.b64encode(rng.randbytes(32)).decode()};\r\n\tb="
            + "\r\n\t ".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(4))
        )
    headers += [
        from_header,
        f"To: {maker.pick(COLLEAGUES)}@{ORG}",
        subject_header,
        f"Date: Mon, 24 Nov 2026 0{rng.randrange(0, 9)}:{rng.randrange(10, 59)}:00 +0000",
        f"Message-ID: <{maker.token(12)}.{maker.token(6)}@{host}>",
    ]
    if maker.chance(0.4):
        headers.append(f"Reply-To: {maker.pick(['support', 'payments', 'hr'])}@{maker.phish_host()}")
    if maker.chance(0.3):
        headers.append(f"Return-Path: <bounce-{maker.token(6)}@{host}>")
    if maker.chance(0.2):
        headers.append(f"List-Unsubscribe: <{maker.url()}>, <mailto:unsub@{host}>")
    if maker.chance(0.06):
        headers.append("X-Spam-Report: " + " ".join(maker.token(9) for _ in range(rng.randrange(500, 1200))))
        maker.traits.append("long-header-line")
    if maker.chance(0.05):
        headers.append(
            f"References: {' '.join(f'<{maker.token(16)}@{host}>' for _ in range(rng.randrange(100, 300)))}"
        )
        maker.traits.append("long-references")

    urls = maker.urls(1, 12)
    body_room = max(0, target_size // 3 - 2 * KB) if target_size < 40 * KB else rng.randrange(1 * KB, 12 * KB)
    shape = rng.randrange(6)
    attachments_room = max(0, target_size - body_room - 3 * KB)
    want_attachments = shape >= 3 or (attachments_room > 20 * KB and shape >= 2)

    plain = _text_part(maker, "plain", maker.plain_body(urls, body_room // 2))
    html = _text_part(maker, "html", maker.html_body(urls, body_room // 2))
    if shape == 0:
        body_part = plain
        maker.traits.append("text")
    elif shape == 1:
        body_part = html
        maker.traits.append("html")
    else:
        body_part = _multipart(maker, "alternative", [plain, html])
        maker.traits.append("alternative")
    if shape == 2 and maker.chance(0.5):
        logo, _ = _attachment_part(
            maker, "image001.png", "image/png", b"\x89PNG\r\n\x1a\n" + rng.randbytes(900), inline=True
        )
        related = _multipart(maker, "related", [body_part, logo])
        body_part = related
        maker.traits.append("related")
        expect_attachments = [("image001.png", None)]
    else:
        expect_attachments = []

    expect.urls = tuple(urls) if plain.faithful and html.faithful else tuple(u for u in urls if u.isascii())
    if not want_attachments:
        top = body_part
    else:
        children = [body_part]
        count = rng.randrange(1, 4)
        for _ in range(count):
            size = max(200, attachments_room // count)
            name, content_type, data = maker.attachment(size)
            part, digest = _attachment_part(maker, name, content_type, data)
            children.append(part)
            expect_attachments.append((name, digest))
            maker.traits.append(f"attachment-{name.rsplit('.', 1)[-1]}")
        top = _multipart(maker, "mixed", children)
    expect.attachments = tuple(expect_attachments)

    top.headers = headers + ["MIME-Version: 1.0"] + top.headers
    return top, expect


def _malform(maker: _Maker, top: _Part, expect: Expect) -> None:
    """Damage a finished message in one of the ways real mail is damaged."""
    multipart = bool(top.children)
    kind = maker.rng.randrange(6)
    if kind == 0 and multipart:
        # The declared boundary is not the one the parts use: the whole body is one text blob.
        top.headers = [
            h.replace(top.boundary, top.boundary + "X") if h.startswith("Content-Type: multipart") else h
            for h in top.headers
        ]
        maker.traits.append("bad-boundary")
        expect.urls = ()
        expect.attachments = ()
    elif kind == 1 and multipart:
        top.close = False
        maker.traits.append("missing-end-boundary")
    elif kind == 2:
        top.headers.insert(3, "X-Originating-Header-Without-Colon")
        maker.traits.append("header-without-colon")
        expect.subject = None  # the headers after it are now the body
        expect.from_address = None
        expect.urls = ()
        expect.attachments = ()
        expect.auth = ()
    elif kind == 3:
        top.headers.append(f"From: second-sender@{maker.phish_host()}")
        maker.traits.append("duplicate-from")
    elif kind == 4 and multipart:
        top.headers = [h.split(";")[0] if h.startswith("Content-Type: multipart") else h for h in top.headers]
        maker.traits.append("multipart-without-boundary")
        expect.urls = ()
        expect.attachments = ()
    else:
        top.headers = [h for h in top.headers if not h.startswith("MIME-Version")]
        maker.traits.append("no-mime-version")


def _forward_as_attachment(
    maker: _Maker,
    inner_part: _Part,
    eol: bytes,
    inner_expect: Expect,
    reporter: str,
    subject: str,
    *,
    plain: bool = False,
) -> tuple[_Part, Expect]:
    note = _text_part(
        maker,
        "plain",
        f"Please check this one, it looks like phishing.\n\n{reporter}\n",
        force_encoding="7bit",
    )
    inner = _serialise(inner_part, eol)
    attached = _Part(["Content-Type: message/rfc822"], body=inner)
    style = 9 if plain else maker.rng.randrange(10)
    if style < 3:
        attached.headers = [
            'Content-Type: message/rfc822; name="original.eml"',
            'Content-Disposition: attachment; filename="original.eml"',
        ]
    elif style < 5:  # what some clients and gateways send: an .eml as opaque bytes
        attached.headers = [
            'Content-Type: application/octet-stream; name="Suspicious message.eml"',
            'Content-Disposition: attachment; filename="Suspicious message.eml"',
            "Content-Transfer-Encoding: base64",
        ]
        attached.body = base64.encodebytes(inner).replace(b"\n", b"\r\n")
        maker.traits.append("forward-eml-octet-stream")
    elif style == 5:  # RFC 2046 forbids it; Exchange and some gateways do it anyway
        attached.headers = ["Content-Type: message/rfc822", "Content-Transfer-Encoding: base64"]
        attached.body = base64.encodebytes(inner).replace(b"\n", b"\r\n")
        maker.traits.append("forward-rfc822-base64")
    elif style == 6:
        # The attached message keeps its own line endings.
        attached.body = _serialise(inner_part, b"\r\n" if eol == b"\n" else b"\n")
        maker.traits.append("forward-mixed-line-endings")
    top = _multipart(maker, "mixed", [note, attached])
    top.headers = [
        f"Received: from {reporter.split('@')[1]} by mx.{ORG} with ESMTPS; Mon, 24 Nov 2026 10:00:00 +0000",
        f"Authentication-Results: mx.{ORG}; spf=pass smtp.mailfrom={ORG}; dkim=pass header.d={ORG}",
        f"From: {reporter.split('@')[0].title()} <{reporter}>",
        f"To: phishing@{ORG}",
        f"Subject: {subject}",
        "Date: Mon, 24 Nov 2026 10:00:00 +0000",
        f"Message-ID: <{maker.token(14)}@{ORG}>",
        "MIME-Version: 1.0",
        *top.headers,
    ]
    expect = Expect(
        subject=subject, from_address=reporter, auth=(("spf", "pass"), ("dkim", "pass")), inner=inner_expect
    )
    return top, expect


def _bounce(maker: _Maker, inner: bytes, inner_expect: Expect) -> tuple[_Part, Expect]:
    """A delivery status notification carrying the phish: backscatter, or a phish dressed as a bounce."""
    text = _text_part(
        maker,
        "plain",
        "Delivery has failed to these recipients or groups:\n\n"
        f"{maker.pick(COLLEAGUES)}@{ORG}\nThe recipient's mailbox is full.\n",
        force_encoding="7bit",
    )
    status = _Part(
        ["Content-Type: message/delivery-status"],
        body=(
            f"Reporting-MTA: dns;mx.{ORG}\r\nArrival-Date: Mon, 24 Nov 2026 09:14:00 +0000\r\n\r\n"
            f"Final-Recipient: rfc822;{maker.pick(COLLEAGUES)}@{ORG}\r\nAction: failed\r\n"
            "Status: 5.2.2\r\nDiagnostic-Code: smtp;552 5.2.2 mailbox full\r\n"
        ).encode(),
    )
    original = _Part(["Content-Type: message/rfc822"], body=inner)
    top = _multipart(maker, "report", [text, status, original])
    top.headers[0] = top.headers[0] + "; report-type=delivery-status"
    subject = "Undeliverable: " + (inner_expect.subject or "")
    top.headers = [
        f"From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{ORG}>",
        f"To: {maker.pick(COLLEAGUES)}@{ORG}",
        f"Subject: {maker.encoded_word(subject, 'utf-8') if not subject.isascii() else subject}",
        "Date: Mon, 24 Nov 2026 09:20:00 +0000",
        f"Message-ID: <{maker.token(14)}@{ORG}>",
        "MIME-Version: 1.0",
        *top.headers,
    ]
    expect = Expect(
        subject=subject.strip(),
        from_address=f"MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@{ORG}",
        inner=inner_expect,
    )
    return top, expect


def _inline_forward(maker: _Maker, phish: _Part, phish_expect: Expect, reporter: str) -> tuple[_Part, Expect]:
    """The reporter pressed Forward: the phish's text under a quoted header block, its attachments kept."""
    gmail = maker.chance(0.5)
    subject = phish_expect.subject or "(no subject)"
    urls = list(phish_expect.urls)
    if gmail:
        block = (
            "---------- Forwarded message ---------\n"
            f"From: Sender <{phish_expect.from_address}>\nDate: Mon, Nov 24, 2026 at 9:14 AM\n"
            f"Subject: {subject}\nTo: <{reporter}>\n\n"
        )
    else:
        block = (
            "-----Original Message-----\n"
            f"From: Sender <{phish_expect.from_address}>\nSent: Monday, November 24, 2026 9:14 AM\n"
            f"To: {reporter}\nSubject: {subject}\n\n"
        )
    text = "FYI - is this legit?\n\n" + block + maker.plain_body(urls, maker.rng.randrange(0, 2 * KB))
    body = _text_part(maker, "plain", text)
    children = [body]
    attachments = [a for a in phish_expect.attachments if a[0] != "image001.png"]
    for child in phish.children[1:]:
        children.append(child)
    fw_subject = ("Fw: " if not gmail else "Fwd: ") + subject
    if phish.children and len(children) > 1:
        top = _multipart(maker, "mixed", children)
    else:
        top = body
        attachments = []
    subject_header = fw_subject if fw_subject.isascii() else maker.encoded_word(fw_subject, "utf-8")
    top.headers = [
        f"From: {reporter}",
        f"To: phishing@{ORG}",
        f"Subject: {subject_header}",
        "Date: Mon, 24 Nov 2026 10:02:00 +0000",
        f"Message-ID: <{maker.token(14)}@{ORG}>",
        "MIME-Version: 1.0",
        *top.headers,
    ]
    expect = Expect(
        subject=fw_subject,
        from_address=reporter,
        urls=tuple(url for url in urls if body.faithful or url.isascii()),
        attachments=tuple(attachments),
    )
    return top, expect


def message(seed: int, index: int) -> Sample:
    """Message `index` of the corpus for `seed`."""
    rng = random.Random(f"{seed}:{index}")
    maker = _Maker(rng)
    # Sizes spread log-uniformly over roughly 2-200 KB, like reported phishing.
    target = int(2 * KB * (100 ** rng.random()))
    phish, expect = _phish(maker, target)
    if maker.chance(0.18):
        _malform(maker, phish, expect)
    eol = b"\n" if maker.chance(0.1) else b"\r\n"
    if eol == b"\n":
        maker.traits.append("bare-lf")
    route = rng.randrange(10)
    reporter = f"{maker.pick(COLLEAGUES)}@{ORG}"
    if route < 5:
        top, top_expect = phish, expect
    elif route < 8:
        top, top_expect = _forward_as_attachment(
            maker, phish, eol, expect, reporter, f"Suspicious: {expect.subject or 'email'}"[:120]
        )
        maker.traits.append("forward-1")
    elif route < 9:
        colleague = f"{maker.pick(COLLEAGUES)}@{ORG}"
        middle, middle_expect = _forward_as_attachment(
            maker, phish, eol, expect, colleague, "Fw: is this real?"
        )
        top, top_expect = _forward_as_attachment(
            maker, middle, eol, middle_expect, reporter, "Phishing report"
        )
        maker.traits.append("forward-2")
    elif rng.random() < 0.6:
        top, top_expect = _inline_forward(maker, phish, expect, reporter)
        maker.traits.append("forward-inline")
    else:
        top, top_expect = _bounce(maker, _serialise(phish, eol), expect)
        maker.traits.append("bounce")
    return Sample(
        name=f"{index:05d}.eml", data=_serialise(top, eol), expect=top_expect, traits=tuple(maker.traits)
    )


def corpus(count: int, seed: int = DEFAULT_SEED) -> Iterator[Sample]:
    for index in range(count):
        yield message(seed, index)


def sized_message(size: int, *, forwarded: bool, seed: int = DEFAULT_SEED) -> bytes:
    """One message of just under `size` bytes: a phish with an HTML body full of links and one large (valid)
    base64 attachment, sent as is, or forwarded as a message/rfc822 attachment of a report."""

    def build(payload_bytes: int) -> bytes:
        maker = _Maker(random.Random(f"{seed}:sized:{size}:{forwarded}"))
        urls = maker.urls(60, 60)
        html = _text_part(maker, "html", maker.html_body(urls, 8 * KB), force_encoding="quoted-printable")
        data = b"PK\x03\x04" + maker.rng.randbytes(payload_bytes)
        attachment = _Part(
            [
                'Content-Type: application/zip; name="archive.zip"',
                'Content-Disposition: attachment; filename="archive.zip"',
                "Content-Transfer-Encoding: base64",
            ],
            body=base64.encodebytes(data).replace(b"\n", b"\r\n"),
        )
        top = _multipart(maker, "mixed", [html, attachment])
        top.headers = [
            *maker.received_chain("mail.evil.example"),
            "Authentication-Results: spf=fail smtp.mailfrom=evil.example; dkim=none; dmarc=fail",
            "From: Billing <billing@evil.example>",
            f"To: alice@{ORG}",
            f"Subject: {max(size // (1024 * 1024), 1)} MB of invoices",
            "Date: Mon, 24 Nov 2026 09:14:00 +0000",
            "Message-ID: <sized@evil.example>",
            "MIME-Version: 1.0",
            *top.headers,
        ]
        if forwarded:
            top, _ = _forward_as_attachment(
                maker, top, b"\r\n", Expect(), f"alice@{ORG}", "Phishing report", plain=True
            )
        return _serialise(top, b"\r\n")

    overhead = len(build(0))
    room = size - overhead - 1024  # base64 lines of 76 characters and CRLF carry 57 bytes each
    return build(max(room, 0) * 57 // 78)


# --- the check -------------------------------------------------------------------------------------------------


def differences(sample: Sample) -> list[str]:
    """How `bot.email.parsing.parse_message` disagrees with what the generator put in."""
    from bot.email import ParseError, parse_message

    try:
        parsed = parse_message(sample.data)
    except ParseError as exc:
        return [f"ParseError: {exc}"]
    except Exception as exc:
        return [f"crash: {type(exc).__name__}: {exc}"]
    return _compare(parsed, sample.expect, "")


def _compare(parsed, expect: Expect, where: str) -> list[str]:
    found = []
    for flag in parsed.flags:
        if "could not be read (" in flag:
            found.append(f"{where}flag: {flag}")
    if expect.subject is not None and parsed.subject != expect.subject:
        found.append(f"{where}subject {parsed.subject!r} != {expect.subject!r}")
    if expect.from_address is not None:
        got = parsed.from_[0].address if parsed.from_ else None
        if got != expect.from_address:
            found.append(f"{where}from {got!r} != {expect.from_address!r}")
    missing = [url for url in expect.urls if url not in parsed.urls]
    if missing:
        found.append(
            f"{where}{len(missing)} of {len(expect.urls)} links not found, e.g. {missing[0]!r} in {parsed.urls[:3]!r}"
        )
    got_attachments = {(a.filename, a.sha256) for a in parsed.attachments}
    got_names = {a.filename for a in parsed.attachments}
    for name, digest in expect.attachments:
        if name not in got_names:
            found.append(f"{where}attachment {name!r} not listed (got {sorted(got_names)!r})")
        elif digest is not None and (name, digest) not in got_attachments:
            found.append(f"{where}attachment {name!r}: wrong sha256")
    if expect.auth:
        got_auth = {(r.method, r.result) for r in parsed.authentication if r.trusted}
        lost = [pair for pair in expect.auth if pair not in got_auth]
        if lost:
            found.append(f"{where}authentication results {lost!r} not read (got {sorted(got_auth)!r})")
    if expect.inner is not None:
        if parsed.inner is None:
            found.append(f"{where}the attached original was not read")
        else:
            found += _compare(parsed.inner, expect.inner, where + "inner: ")
    return found


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("outdir", nargs="?", type=Path, help="write the messages here as NNNNN.eml")
    arguments.add_argument("--count", type=int, default=1000)
    arguments.add_argument("--seed", type=int, default=DEFAULT_SEED)
    arguments.add_argument("--check", action="store_true", help="parse each message and report differences")
    options = arguments.parse_args(argv)
    if options.outdir is None and not options.check:
        arguments.error("give an output directory, or --check")
    if options.outdir is not None:
        options.outdir.mkdir(parents=True, exist_ok=True)
    problems = 0
    total = 0
    for sample in corpus(options.count, options.seed):
        total += len(sample.data)
        if options.outdir is not None:
            (options.outdir / sample.name).write_bytes(sample.data)
        if options.check:
            found = differences(sample)
            if found:
                problems += 1
                print(f"{sample.name} [{', '.join(sample.traits)}]")
                for line in found:
                    print(f"    {line}")
    where = f" in {options.outdir}" if options.outdir is not None else ""
    print(f"{options.count} messages, {total / 1_048_576:.1f} MB{where}", file=sys.stderr)
    if options.check:
        print(f"{problems} of {options.count} differ from what was put in", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
