"""Raw RFC 822 bytes -> `ReportedMessage`.

Every byte handed to this module was written by an attacker. The parser reads what it can, says in
`flags` what it could not read, and bounds its work on every axis (bytes, lines, MIME parts, nesting,
HTML, URLs, header lengths). The only exception that leaves `parse_message` is `ParseError`, and only
for input that is not an email at all.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html
import io
import re
from dataclasses import dataclass, field, replace
from email import errors
from email.feedparser import BufferedSubFile, BytesFeedParser
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from email.utils import decode_params, getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from bot.domain import Address, Attachment, AuthResult, ReportedMessage
from bot.email.outlook_msg import MsgError, is_outlook_msg, msg_to_mime

__all__ = ["ParseError", "looks_like_email", "original_message_bytes", "parse_message", "read_report"]

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_DEPTH = 3

_MAX_PARTS = 1_000
_MAX_MULTIPART_NESTING = 40
_MAX_ATTACHMENTS = 200
_MAX_URLS = 500
_MAX_URL_CHARS = 2_048
_MAX_FLAGS = 40
_MAX_DEFECT_FLAGS = 6
_MAX_HEADER_CHARS = 64 * 1024  # any one header value, before decoding
_MAX_SINGLE_ADDRESS_CHARS = 4 * 1024  # From, Sender, Reply-To: getaddresses is pure Python, ~5 us a character
_MAX_ADDRESS_LIST_CHARS = 32 * 1024  # To, Cc
_MAX_ADDRESSES = 500
_MAX_SUBJECT_CHARS = 2_000
_MAX_MESSAGE_ID_CHARS = 998
_MAX_FILENAME_CHARS = 255
_MAX_AUTH_HEADERS = 20
_MAX_AUTH_RESULTS = 60
_MAX_AUTH_TEXT_CHARS = 500
_MAX_AUTH_HEADER_CHARS = 8 * 1024
_MAX_ANTISPAM_VALUE_CHARS = 256
_MAX_PARAM_HEADER_CHARS = 4 * 1024  # Content-Type / Content-Disposition, see _Message
_MAX_TEXT_SCAN_BYTES = 4 * 1024 * 1024  # per text part, searched with one regex
_MAX_HTML_PARSE_CHARS = 256 * 1024  # per HTML part, through HTMLParser (pure Python: up to ~2 s a MB)
_MAX_HTML_PARSE_TOTAL = 512 * 1024  # per report, all parts and wrapped messages together
_SNIFF_BYTES = 8 * 1024
_FEED_CHUNK = 64 * 1024
# The stdlib feed parser checks every line against every open multipart boundary, so its cost grows as
# lines x nesting. A real 25 MB message is ~350k lines at nesting 2-3; beyond this budget we read headers only.
_MAX_PARSE_WORK = 3_000_000
_MAX_HEADER_BLOCK_FALLBACK = 256 * 1024

_INNER_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})
_MAX_HEADERS = 2_000  # header fields read from one message; real mail has tens to a few hundred
_BODY_URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "background", "poster", "data", "cite", "longdesc", "xlink:href"}
)
_REFUSED_CODECS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})
_ASCII_CHARSETS = frozenset({"", "ascii", "us-ascii", "us_ascii", "ansi_x3.4-1968"})

_ANTISPAM_FOREFRONT_KEYS = frozenset({"SCL", "CAT", "SFV", "PTR", "CIP", "IPV"})
_ANTISPAM_MICROSOFT_KEYS = frozenset({"BCL"})

_WANTED_HEADERS = frozenset(
    {
        "message-id",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "return-path",
        "date",
        "authentication-results",
        "x-forefront-antispam-report",
        "x-microsoft-antispam",
    }
)

_KNOWN_FIELD_NAMES = frozenset(
    {
        b"from",
        b"to",
        b"cc",
        b"bcc",
        b"subject",
        b"date",
        b"message-id",
        b"received",
        b"return-path",
        b"mime-version",
        b"delivered-to",
        b"reply-to",
        b"sender",
        b"authentication-results",
        b"received-spf",
        b"dkim-signature",
        b"in-reply-to",
        b"references",
        b"thread-topic",
        b"thread-index",
        b"importance",
    }
)
_KNOWN_FIELD_PREFIXES = (b"x-", b"arc-", b"content-", b"list-", b"resent-")

_DEFECT_WORDS = {
    "NoBoundaryInMultipartDefect": "a multipart part declares no boundary",
    "StartBoundaryNotFoundDefect": "a MIME boundary was declared but never found",
    "CloseBoundaryNotFoundDefect": "a MIME boundary was never closed",
    "FirstHeaderLineIsContinuationDefect": "the first header line is a continuation line",
    "MisplacedEnvelopeHeaderDefect": "an mbox 'From ' line sits among the headers",
    "MissingHeaderBodySeparatorDefect": "a header block does not end with a blank line",
    "MultipartInvariantViolationDefect": "a multipart part has no subparts",
    "InvalidMultipartContentTransferEncodingDefect": "a multipart part declares a transfer encoding",
    "UndecodableBytesDefect": "undecodable bytes",
    "InvalidBase64PaddingDefect": "invalid base64 padding",
    "InvalidBase64CharactersDefect": "invalid characters in base64 data",
    "InvalidBase64LengthDefect": "base64 data of an impossible length",
}

# --- patterns ------------------------------------------------------------------------------------------

_FIELD_LINE = re.compile(rb"[!-9;-~]{1,100}[ \t]*:")
_FOLD = re.compile(r"(?:\r\n|\n|\r)(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([QqBb])\?([^?]*)\?=")
_URL_IN_TEXT = re.compile(r"""https?://[^\s<>"'`\x00-\x1f\x7f]{1,8192}""", re.IGNORECASE)
_HTTP_URL = re.compile(r"https?://.", re.IGNORECASE | re.DOTALL)
_URL_TAB_OR_NEWLINE = re.compile("[\t\n\r]")
_URL_CONTROL = re.compile("[\x00-\x1f\x7f]")
_C0_AND_SPACE = "".join(chr(code) for code in range(0x21))
_URL_TRAILING_PUNCTUATION = frozenset(".,;:!?*'\"")
_URL_BRACKETS = {")": "(", "]": "[", "}": "{", ">": "<"}
_AR_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<semi>;)
    | (?P<eq>=)
    | (?P<quoted>"(?:[^"\\]|\\.)*"?)
    | (?P<comment>\()
    | (?P<word>[^\s;="()]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_COMMENT_SPECIAL = re.compile(r"[()\\]")
_CHARSET_FOR_FLAG = re.compile(r"[^A-Za-z0-9._:+-]")


class ParseError(Exception):
    """The bytes are not an email at all (empty, binary garbage, over the size bound, a damaged .msg).

    The message is plain English, safe to show a person; it never quotes the input. `reason` names the case
    for a translated message (bot.slack.i18n): "empty", "too_large", "not_email" or "msg_unreadable"; `size`
    and `limit` are the byte counts of a "too_large".
    """

    def __init__(self, message: str, *, reason: str = "not_email", size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.size = size
        self.limit = limit


# --- public API -----------------------------------------------------------------------------------------


def looks_like_email(raw: bytes) -> bool:
    """Cheap sniff: the bytes start with an RFC 822 header block that names at least one mail header."""
    head = bytes(raw[:_SNIFF_BYTES])
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8) :]
    head = head.lstrip(b" \t\r\n")
    if head.startswith(b"From "):  # mbox envelope line
        head = head.partition(b"\n")[2]
    known = False
    for index, line in enumerate(head.split(b"\n")[:200]):
        line = line.rstrip(b"\r")
        if not line:
            return known
        if line[:1] in (b" ", b"\t"):
            if index == 0:
                return False
            continue
        match = _FIELD_LINE.match(line)
        if match is None:
            return known
        name = match.group().rstrip(b": \t").lower()
        if name in _KNOWN_FIELD_NAMES or name.startswith(_KNOWN_FIELD_PREFIXES):
            known = True
    return known


def parse_message(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> ReportedMessage:
    """Read a reported email (.eml bytes, or an Outlook .msg file). Raises ParseError only when the bytes are
    not an email at all. `size` and `sha256` are those of `raw` as given."""
    return _read_report(raw, max_bytes, max_depth)[0]


def original_message_bytes(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> bytes:
    """The RFC 822 bytes of `parse_message(raw).original`: the wrapped phish when the report forwards one as
    an attachment (what Microsoft should be sent), else `raw` itself (a .msg converted to MIME). Same bounds
    and errors as parse_message."""
    return _read_report(raw, max_bytes, max_depth)[1]


def read_report(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH
) -> tuple[ReportedMessage, bytes]:
    """`parse_message` and `original_message_bytes` in one pass."""
    return _read_report(raw, max_bytes, max_depth)


def _read_report(raw: bytes, max_bytes: int, max_depth: int) -> tuple[ReportedMessage, bytes]:
    data = _accept(raw, max_bytes)
    if not is_outlook_msg(data):
        return _Reader(max_depth).read(data, depth=0)
    try:
        mime, conversion_flags = msg_to_mime(data, max_depth=max_depth)
    except MsgError as exc:
        raise ParseError(str(exc), reason="msg_unreadable") from None
    message, original = _Reader(max_depth).read(mime, depth=0)
    flags = ("converted from an Outlook .msg file", *conversion_flags, *message.flags)[:_MAX_FLAGS]
    return (
        replace(message, flags=flags, size=len(data), sha256=hashlib.sha256(data).hexdigest()),
        original,
    )


def _accept(raw: bytes, max_bytes: int) -> bytes:
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise TypeError(f"parse_message takes bytes, not {type(raw).__name__}")
    if not raw or raw.isspace():
        raise ParseError("The report is empty: there is no email in it.", reason="empty")
    if len(raw) > max_bytes:
        raise ParseError(
            f"The email is {_size_words(len(raw))}; the largest accepted is {_size_words(max_bytes)}.",
            reason="too_large",
            size=len(raw),
            limit=max_bytes,
        )
    if is_outlook_msg(raw):
        return raw
    if not looks_like_email(raw):
        raise ParseError(
            "This doesn't look like an email: it doesn't start with mail header lines (From:, Subject:, ...)."
        )
    return raw


def _size_words(size: int) -> str:
    if size >= 1_048_576:
        return f"{size / 1_048_576:.1f}".removesuffix(".0") + " MB"
    if size >= 1024:
        return f"{size / 1024:.1f}".removesuffix(".0") + " KB"
    return f"{size:,} bytes"


# --- the email package, made safe -------------------------------------------------------------------------


class _RawHeaders(Compat32):
    """compat32, with header values handed back exactly as parsed (8-bit bytes surrogate-escaped) and written
    back the same way. Decoding is ours, one header at a time, so one bad header becomes a flag; and an
    attached message is re-serialised without refolding (its bytes stay close to what was received)."""

    def header_fetch_parse(self, name, value):
        return value

    def fold_binary(self, name, value):
        if not isinstance(value, str):
            return super().fold_binary(name, value)
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_POLICY = _RawHeaders()


class _OverlongParameterHeaderDefect(Exception):
    """Recorded on a part whose Content-Type or Content-Disposition was cut before reading its parameters."""


class _Message(Message):
    # The stdlib's parameter splitter (email.message._parseparam) is quadratic in the header length, and the
    # feed parser calls it (get_boundary) on every part: a 1 MB Content-Type would stall the parse for
    # minutes. This is the same logic, linear, on a bounded prefix of the header.
    def _get_params_preserve(self, failobj, header):
        value = self.get(header)
        if value is None:
            return failobj
        text = str(value)
        if len(text) > _MAX_PARAM_HEADER_CHARS:
            text = text[:_MAX_PARAM_HEADER_CHARS]
            if not any(isinstance(defect, _OverlongParameterHeaderDefect) for defect in self.defects):
                self.defects.append(_OverlongParameterHeaderDefect())
        params = []
        for piece in _split_parameters(text):
            name, sep, val = piece.partition("=")
            if sep:
                params.append((name.strip().lower(), val.strip()))
            else:
                params.append((piece.strip(), ""))
        try:
            return decode_params(params)
        except Exception:  # noqa: BLE001 - RFC 2231 decoding of attacker text; keep the undecoded values
            return params


def _split_parameters(text: str) -> list[str]:
    if '"' not in text:
        return text.split(";")
    pieces = []
    start = 0
    quoted = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = quoted
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


# A line the feed parser can only ever append to the body, preamble or epilogue it is collecting: not a header
# or continuation line (email.feedparser.headerRE), not blank, and not starting with "-" (every boundary does).
_BODY_LINE = re.compile(r"(?!From |[-\t \r\n])[\x21-\x39\x3b-\x7e]*+(?!:)")
_NOT_BODY_START = frozenset("-\t \r\n")


class _Lines(BufferedSubFile):
    """The feed parser's line buffer, handing over each run of body lines as one string.

    The feed parser looks at a line only to ask whether it is a header, a boundary or blank; a line that is none
    of these (and every such line after it) is appended to the text being collected. Joining such runs before
    the parser sees them gives the same tree and the same defects for a fraction of the work and memory: a
    25 MB base64 attachment was 340,000 line objects (1.8x its size) held at once, each read by Python code.
    """

    def pushlines(self, lines):
        merged = []
        run: list[str] = []
        for line in lines:
            first = line[:1]
            # A line without a colon is tested with string methods; _BODY_LINE decides the rest.
            if (
                first
                and first not in _NOT_BODY_START
                and (":" not in line or _BODY_LINE.match(line))
                and not (first == "F" and line.startswith("From "))
            ):
                run.append(line)
                continue
            if run:
                merged.append(run[0] if len(run) == 1 else "".join(run))
                run = []
            merged.append(line)
        if run:
            merged.append(run[0] if len(run) == 1 else "".join(run))
        self._lines.extend(merged)


class _FeedParser(BytesFeedParser):
    def __init__(self) -> None:
        super().__init__(_factory=_Message, policy=_POLICY)
        if type(self._input) is BufferedSubFile:  # a future Python with another buffer keeps its own
            self._input = _Lines()


def _parse_bytes(data: bytes) -> Message:
    parser = _FeedParser()
    for start in range(0, len(data), _FEED_CHUNK):
        parser.feed(data[start : start + _FEED_CHUNK])
    return parser.close()


def _header_block(data: bytes) -> bytes:
    head = data[:_MAX_HEADER_BLOCK_FALLBACK]
    ends = [index for index in (head.find(b"\n\n"), head.find(b"\n\r\n")) if index >= 0]
    return head[: min(ends) + 1] if ends else head


def _parse_work(data: bytes) -> int:
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    if lines * 2 > _MAX_PARSE_WORK:
        return lines * 2
    # An upper bound on multipart nesting: every nested multipart needs a boundary parameter.
    return lines * (2 + data.lower().count(b"boundary"))


_NEWLINE = re.compile(r"\r\n|\r|\n")
_WRITE_CHUNK = 1024 * 1024


class _Generator(BytesGenerator):
    """BytesGenerator, writing every body as it was received, straight into one buffer.

    The stdlib buffers each part's body and copies it into its parent's buffer (a 25 MB attachment was held
    three or four times over), splits each text into a list of lines to rewrite their line breaks, and fails
    on a body its Content-Type says should have been parsed: a multipart whose boundary never appeared, or a
    "message-delivery-status/x" part, with 8-bit bytes in it raised, and the attached message was lost.
    """

    def _write(self, msg):
        if (
            self._handler(msg) in ("_handle_multipart", "_handle_multipart_signed")
            and not isinstance(msg._payload, str)
            and not msg.get_boundary()
        ):
            super()._write(msg)  # it invents a boundary and rewrites Content-Type after writing the parts
            return
        write_headers = getattr(msg, "_write_headers", None)
        if write_headers is None:
            self._write_headers(msg)
        else:
            write_headers(self)
        self._dispatch(msg)

    def _handler(self, msg) -> str:
        """The name of the method the stdlib's _dispatch would call."""
        main = msg.get_content_maintype()
        specific = f"_handle_{main}_{msg.get_content_subtype()}".replace("-", "_")
        generic = f"_handle_{main}".replace("-", "_")
        for name in (specific, generic):
            if getattr(self, name, None) is not None:
                return name
        return "_writeBody"

    def _dispatch(self, msg):
        if isinstance(msg._payload, str):
            self._write_body(msg._payload)
            return
        super()._dispatch(msg)

    def _handle_text(self, msg):
        if isinstance(msg._payload, str):
            self._write_body(msg._payload)
            return
        super()._handle_text(msg)

    _writeBody = _handle_text

    def _write_body(self, text: str) -> None:
        # As received: the stdlib rewrote every line break of a text body to the outer message's, which
        # changed the bytes (and the hash) of an 8bit or binary attachment inside a forwarded phish.
        for start in range(0, len(text), _WRITE_CHUNK):
            self.write(text[start : start + _WRITE_CHUNK])

    def _write_lines(self, lines):
        start = 0
        end_of_text = len(lines)
        while start < end_of_text:
            end = min(start + _WRITE_CHUNK, end_of_text)
            if lines[end - 1] == "\r":
                end += 1  # never split a CRLF
            self.write(_NEWLINE.sub(self._NL, lines[start:end]))
            start = end

    def _handle_multipart(self, msg):
        subparts = msg._payload
        boundary = msg.get_boundary() if isinstance(subparts, list) else None
        if not boundary:
            super()._handle_multipart(msg)
            return
        if msg.preamble is not None:
            self._write_lines(msg.preamble)
            self.write(self._NL)
        self.write("--" + boundary + self._NL)
        for index, part in enumerate(subparts):
            if index:
                self.write(self._NL + "--" + boundary + self._NL)
            self.clone(self._fp).flatten(part, unixfrom=False, linesep=self._NL)
        self.write(self._NL + "--" + boundary + "--" + self._NL)
        if msg.epilogue is not None:
            self._write_lines(msg.epilogue)

    def _handle_message(self, msg):
        if isinstance(msg._payload, list):
            self.clone(self._fp).flatten(msg.get_payload(0), unixfrom=False, linesep=self._NL)
            return
        super()._handle_message(msg)


def _flatten(message: Message, linesep: str) -> bytes:
    buffer = io.BytesIO()
    _Generator(buffer, mangle_from_=False, policy=_POLICY.clone(linesep=linesep)).flatten(message)
    return buffer.getvalue()


_BASE64_CHUNK = 1024 * 1024
_NOT_BASE64 = bytes(
    sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
)
_PADDING_ONLY_WRONG = re.compile(r"[A-Za-z0-9+/\r\n]*+(?:=[\r\n]*+)?")


def _lenient_base64(part: Message, payload: str) -> bytes | None:
    """What compat32's get_payload(decode=True) returns for base64 that a2b_base64 refused (padding lost,
    stray characters, a length that cannot be base64), with the same defects recorded on the part, decoded a
    megabyte at a time: the stdlib joins, pads and copies the whole text four times (a 25 MB attachment
    peaked at 5.5x its size). None when the stdlib's own rules must decide (it reads the encoding unstripped).

    Every data character counts and padding never ends the data early (a2b_base64 would have succeeded), so
    the result is the data characters decoded with the last quad padded; only the defects differ.
    """
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    decoded = io.BytesIO()
    carry = b""
    for start in range(0, len(payload), _BASE64_CHUNK):
        piece = payload[start : start + _BASE64_CHUNK].encode("ascii", "surrogateescape")
        data = carry + piece.translate(None, _NOT_BASE64)
        whole = len(data) - len(data) % 4
        decoded.write(binascii.a2b_base64(data[:whole]))
        carry = data[whole:]
    if len(carry) == 1:  # cannot be base64 at all: the stdlib hands back the text without its line breaks
        part.defects.append(errors.InvalidBase64LengthDefect())
        text = io.BytesIO()
        for start in range(0, len(payload), _BASE64_CHUNK):
            text.write(
                payload[start : start + _BASE64_CHUNK]
                .encode("ascii", "surrogateescape")
                .translate(None, b"\r\n")
            )
        return text.getvalue()
    if not carry:
        return None  # not a failure this function knows
    decoded.write(binascii.a2b_base64(carry + b"=="))
    if not _PADDING_ONLY_WRONG.fullmatch(payload):
        part.defects.append(errors.InvalidBase64CharactersDefect())
    part.defects.append(errors.InvalidBase64PaddingDefect())
    return decoded.getvalue()


# --- small text helpers ---------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """No NUL, no control characters, no lone surrogates: strings go to Postgres, JSON and Slack."""
    if _SURROGATE.search(text):
        try:  # 8-bit bytes the parser surrogate-escaped: read them as UTF-8
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate that never was a byte (a UTF-7 body can make one)
            text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return _CONTROL.sub("", text)


def _for_flag(value: str) -> str:
    """A short, inert rendering of an attacker-chosen token (a charset name) for a flag."""
    return _CHARSET_FOR_FLAG.sub("", value)[:40] or "?"


def _codec_for(charset: str | None) -> str | None:
    name = (charset or "").strip().strip("'\"").lower()
    if name in _ASCII_CHARSETS:
        return "utf-8"  # declared ASCII with 8-bit bytes is common; UTF-8 is its superset
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return None
    normalised = info.name.replace("-", "_")
    if normalised in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None  # not charsets: they interpret escapes, or are quadratic (punycode) on long input
    return info.name


def _trim_url(url: str) -> str:
    """Drop trailing sentence punctuation and closing brackets the URL did not open."""
    opened = {closer: url.count(opener) for closer, opener in _URL_BRACKETS.items()}
    closed = {closer: url.count(closer) for closer in _URL_BRACKETS}
    end = len(url)
    while end:
        last = url[end - 1]
        if last in _URL_TRAILING_PUNCTUATION:
            end -= 1
        elif last in closed and closed[last] > opened[last]:
            closed[last] -= 1
            end -= 1
        else:
            break
    return url[:end]


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/")
    base = name.rsplit("/", 1)[-1].strip()
    if not base:
        base = name.replace("/", "").strip()
    return base


def _sniff(data: bytes) -> str:
    """The type the bytes say they are, whatever the sender declared."""
    if not data:
        return "application/x-empty"
    head = data[:_SNIFF_BYTES]
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _zip_flavour(data)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _ole_flavour(data)
    if head.startswith(b"MZ"):
        offset = int.from_bytes(head[0x3C:0x40], "little")
        if data[offset : offset + 4] == b"PE\x00\x00":
            return "application/vnd.microsoft.portable-executable"
        return "application/x-dosexec"
    if head.startswith(b"\x7fELF"):
        return "application/x-executable"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"Rar!\x1a\x07"):
        return "application/vnd.rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "application/x-7z-compressed"
    if head.startswith(b"{\\rtf"):
        return "application/rtf"
    if data[0x8001:0x8006] == b"CD001":
        return "application/x-iso9660-image"
    text = head.lstrip(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if text.startswith(b"<"):
        lowered = text[:1024].lower()
        if b"<svg" in lowered:
            return "image/svg+xml"
        if lowered.startswith(b"<!doctype html") or any(
            tag in lowered
            for tag in (b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<form", b"<meta")
        ):
            return "text/html"
        if lowered.startswith(b"<?xml"):
            return "application/xml"
    if looks_like_email(head):
        return "message/rfc822"
    if not re.search(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]", head):
        return "text/plain"
    return "application/octet-stream"


def _zip_flavour(data: bytes) -> str:
    # Entry names from the local headers at the start and the central directory at the end: cheap, and
    # never a decompression of attacker data.
    names: list[bytes] = []
    front = data[:65536]
    for match in re.finditer(rb"PK\x03\x04", front):
        start = match.start()
        length = int.from_bytes(front[start + 26 : start + 28], "little")
        names.append(front[start + 30 : start + 30 + length])
        if len(names) >= 50:
            break
    back = data[-65536:]
    for match in re.finditer(rb"PK\x01\x02", back):
        start = match.start()
        length = int.from_bytes(back[start + 28 : start + 30], "little")
        names.append(back[start + 46 : start + 46 + length])
        if len(names) >= 300:
            break
    if b"[Content_Types].xml" in names:
        for prefix, kind in (
            (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ):
            if any(name.startswith(prefix) for name in names):
                return kind
    if b"META-INF/MANIFEST.MF" in names:
        return "application/java-archive"
    return "application/zip"


def _ole_flavour(data: bytes) -> str:
    if "__substg1.0_".encode("utf-16-le") in data:
        return "application/vnd.ms-outlook"
    if "WordDocument".encode("utf-16-le") in data:
        return "application/msword"
    if "Workbook".encode("utf-16-le") in data:
        return "application/vnd.ms-excel"
    if "PowerPoint Document".encode("utf-16-le") in data:
        return "application/vnd.ms-powerpoint"
    return "application/x-ole-storage"


# --- the reader -----------------------------------------------------------------------------------------


class _Flags:
    def __init__(self) -> None:
        self._items: dict[str, None] = {}

    def add(self, text: str) -> None:
        if len(self._items) < _MAX_FLAGS:
            self._items.setdefault(text, None)

    def values(self) -> tuple[str, ...]:
        return tuple(self._items)


@dataclass
class _Budget:
    """Work shared by a report and every message wrapped inside it."""

    parts: int = _MAX_PARTS
    html_chars: int = _MAX_HTML_PARSE_TOTAL


class _Links:
    def __init__(self, flags: _Flags) -> None:
        self.urls: list[str] = []
        self._seen: set[str] = set()
        self._flags = flags
        self.full = False

    def add(self, url: str) -> None:
        if self.full:
            return
        url = _clean(_URL_CONTROL.sub("", url)).strip()
        if not _HTTP_URL.match(url):
            return
        if len(url) > _MAX_URL_CHARS:
            url = url[:_MAX_URL_CHARS]
            self._flags.add(f"a link longer than {_MAX_URL_CHARS:,} characters was cut")
        if url in self._seen:
            return
        if len(self.urls) >= _MAX_URLS:
            self.full = True
            self._flags.add(f"more than {_MAX_URLS} links: the rest were not kept")
            return
        self._seen.add(url)
        self.urls.append(url)

    def add_attribute(self, value: str) -> None:
        # Browsers drop tabs and newlines anywhere in a URL and trim control characters and spaces.
        value = _URL_TAB_OR_NEWLINE.sub("", value).strip(_C0_AND_SPACE)
        if _HTTP_URL.match(value):
            self.add(value)
        elif "://" in value:
            self.add_text(value)

    def add_text(self, text: str, *, unescape: bool = False) -> None:
        if self.full or "://" not in text:
            return
        for match in _URL_IN_TEXT.finditer(text):
            url = _trim_url(match.group())
            self.add(html.unescape(url) if unescape else url)
            if self.full:
                return


class _LinkFinder(HTMLParser):
    def __init__(self, links: _Links) -> None:
        super().__init__(convert_charrefs=True)
        self._links = links

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if not value:
                continue
            if name in _BODY_URL_ATTRIBUTES:
                self._links.add_attribute(value)
            elif "://" in value:  # style="background:url(...)", meta refresh content, srcset, onclick
                self._links.add_text(value)

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        if "://" in data:
            self._links.add_text(data)

    def handle_comment(self, data):
        # Outlook renders conditional comments (<!--[if mso]><v:roundrect href=...>): their links are real.
        if "://" in data:
            self._links.add_text(data, unescape=True)


@dataclass
class _Found:
    """What one message's headers and MIME parts yielded, before the wrapped message (if any) is read."""

    flags: _Flags
    links: _Links
    attachments: list[Attachment] = field(default_factory=list)
    defects: dict[str, int] = field(default_factory=dict)
    inner_data: bytes | None = None
    extra_messages: int = 0


class _Reader:
    def __init__(self, max_depth: int) -> None:
        self._max_depth = max(0, max_depth)
        self._budget = _Budget()

    def read(self, data: bytes, depth: int) -> tuple[ReportedMessage, bytes]:
        """Never raises: whatever cannot be read becomes a flag."""
        try:
            return self._read(data, depth)
        except Exception as exc:  # noqa: BLE001 - hostile input must become a flag, never a crash
            return (
                ReportedMessage(
                    message_id=None,
                    subject="",
                    flags=(f"the email could not be read ({type(exc).__name__})",),
                    size=len(data),
                    sha256=hashlib.sha256(data).hexdigest(),
                ),
                data,
            )

    def _read(self, data: bytes, depth: int) -> tuple[ReportedMessage, bytes]:
        flags = _Flags()
        found = _Found(flags=flags, links=_Links(flags))
        body = data
        if body.startswith(codecs.BOM_UTF8):
            body = body[len(codecs.BOM_UTF8) :]
        if body[:1] in (b" ", b"\t", b"\r", b"\n"):
            body = body.lstrip(b" \t\r\n")
        linesep = "\r\n" if b"\r\n" in body[:4096] else "\n"

        message = self._parse(body, flags)
        _end_attached_messages(message)
        fields = self._header_fields(message, flags)
        self._walk(message, found, depth, linesep)
        del message  # the wrapped message is parsed from its own bytes; don't hold two trees at once

        inner = None
        original = data
        if found.inner_data is not None:
            inner, original = self.read(found.inner_data, depth + 1)
            found.inner_data = None
        if found.extra_messages:
            flags.add(
                f"{found.extra_messages} more attached email(s) were listed but not read as the original"
            )
        self._defect_flags(found)

        return (
            ReportedMessage(
                message_id=fields["message_id"],
                subject=fields["subject"],
                from_=fields["from_"],
                sender=fields["sender"],
                reply_to=fields["reply_to"],
                return_path=fields["return_path"],
                to=fields["to"],
                cc=fields["cc"],
                date=fields["date"],
                authentication=fields["authentication"],
                antispam=fields["antispam"],
                urls=tuple(found.links.urls),
                attachments=tuple(found.attachments),
                inner=inner,
                flags=flags.values(),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            ),
            original,
        )

    def _parse(self, body: bytes, flags: _Flags) -> Message:
        if _parse_work(body) > _MAX_PARSE_WORK:
            flags.add("the body was not read: too many lines, or MIME parts nested too deep; headers only")
            return _parse_bytes(_header_block(body))
        try:
            return _parse_bytes(body)
        except RecursionError:
            flags.add("the body was not read: MIME parts nested too deep; headers only")
        except Exception as exc:  # noqa: BLE001 - the email package on hostile MIME; fall back to headers
            flags.add(f"the MIME structure could not be read ({type(exc).__name__}); headers only")
        return _parse_bytes(_header_block(body))

    # --- headers ---

    def _header_fields(self, message: Message, flags: _Flags) -> dict:
        headers: dict[str, list[str]] = {}
        items = message.items()
        if len(items) > _MAX_HEADERS:
            flags.add(f"more than {_MAX_HEADERS:,} header fields: the rest were not read")
            items = items[:_MAX_HEADERS]
        for name, value in items:
            key = str(name).strip().lower()
            if key in _WANTED_HEADERS:
                headers.setdefault(key, []).append(value if isinstance(value, str) else str(value))

        for key, label in (
            ("message-id", "Message-ID"),
            ("subject", "Subject"),
            ("from", "From"),
            ("sender", "Sender"),
            ("reply-to", "Reply-To"),
            ("date", "Date"),
        ):
            if len(headers.get(key, ())) > 1:
                flags.add(f"several {label} headers: the first was used")

        fields: dict = {}
        fields["message_id"] = self._message_id(headers.get("message-id"), flags)
        subject = headers.get("subject")
        fields["subject"] = (
            self._unstructured(subject[0], "Subject", _MAX_SUBJECT_CHARS, flags) if subject else ""
        )
        fields["from_"] = self._addresses(
            headers.get("from", [])[:1], "From", _MAX_SINGLE_ADDRESS_CHARS, flags
        )
        if not fields["from_"]:
            flags.add("no From address")
        sender = self._addresses(headers.get("sender", [])[:1], "Sender", _MAX_SINGLE_ADDRESS_CHARS, flags)
        fields["sender"] = sender[0] if sender else None
        fields["reply_to"] = self._addresses(
            headers.get("reply-to", [])[:1], "Reply-To", _MAX_SINGLE_ADDRESS_CHARS, flags
        )
        fields["to"] = self._addresses(headers.get("to"), "To", _MAX_ADDRESS_LIST_CHARS, flags)
        fields["cc"] = self._addresses(headers.get("cc"), "Cc", _MAX_ADDRESS_LIST_CHARS, flags)
        fields["return_path"] = self._return_path(headers.get("return-path"), flags)
        fields["date"] = self._date(headers.get("date"), flags)
        fields["authentication"] = self._authentication(headers.get("authentication-results", []), flags)
        fields["antispam"] = self._antispam(headers, flags)
        return fields

    def _raw_text(self, value: str, label: str, flags: _Flags) -> str:
        """Unfolded text of one header: 8-bit bytes read as UTF-8 (else Windows-1252), no line breaks."""
        if len(value) > _MAX_HEADER_CHARS:
            value = value[:_MAX_HEADER_CHARS]
            flags.add(f"{label}: longer than {_MAX_HEADER_CHARS // 1024} KB, cut")
        if not value.isascii():
            raw = value.encode("utf-8", "surrogateescape")
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw.decode("cp1252", "replace")
                flags.add(f"{label}: 8-bit text that is not UTF-8, read as Windows-1252")
        value = _FOLD.sub("", value)
        return _LINE_BREAK.sub(" ", value)

    def _decode_words(self, text: str, label: str, flags: _Flags) -> str:
        """RFC 2047 encoded words; adjacent words in one charset are joined before decoding (a multibyte
        character may be split across them) and the whitespace between encoded words is dropped."""
        if "=?" not in text:
            return text
        pieces: list[str] = []
        pending = bytearray()
        pending_charset: str | None = None
        position = 0
        after_word = False

        def flush() -> None:
            nonlocal pending_charset
            if pending_charset is not None:
                pieces.append(self._decode_bytes(bytes(pending), pending_charset, label, flags, strict=True))
                pending.clear()
                pending_charset = None

        for match in _ENCODED_WORD.finditer(text):
            gap = text[position : match.start()]
            if gap and not (after_word and gap.isspace()):
                flush()
                pieces.append(gap)
            charset = match.group(1).split("*", 1)[0]
            encoded = match.group(3)
            try:
                if match.group(2) in "Bb":
                    compact = "".join(encoded.split())
                    decoded = binascii.a2b_base64(compact + "=" * (-len(compact) % 4))
                else:
                    decoded = binascii.a2b_qp(encoded.encode("utf-8", "replace"), header=True)
            except (binascii.Error, ValueError):
                flush()
                flags.add(f"{label}: an encoded word is not valid base64")
                pieces.append(match.group())
                after_word = False
                position = match.end()
                continue
            if pending_charset is not None and charset.lower() != pending_charset.lower():
                flush()
            pending_charset = charset
            pending.extend(decoded)
            after_word = True
            position = match.end()
        flush()
        pieces.append(text[position:])
        return "".join(pieces)

    def _decode_bytes(
        self, data: bytes, charset: str | None, label: str, flags: _Flags, *, strict: bool
    ) -> str:
        codec = _codec_for(charset)
        if codec is None:
            flags.add(f"{label}: unknown charset {_for_flag(charset or '')}, read as UTF-8")
            return data.decode("utf-8", "replace")
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            if strict:
                flags.add(f"{label}: text is not valid {_for_flag(codec)}")
            elif codec == "utf-8":
                return data.decode("cp1252", "replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            codec = "utf-8"
        try:
            return data.decode(codec, "replace")
        except (LookupError, UnicodeError, ValueError, TypeError):
            return data.decode("utf-8", "replace")

    def _unstructured(self, value: str, label: str, limit: int, flags: _Flags) -> str:
        text = _clean(self._decode_words(self._raw_text(value, label, flags), label, flags)).strip()
        if len(text) > limit:
            flags.add(f"{label}: longer than {limit:,} characters, cut")
            text = text[:limit]
        return text

    def _message_id(self, values: list[str] | None, flags: _Flags) -> str | None:
        if not values:
            flags.add("no Message-ID header")
            return None
        text = _clean(self._raw_text(values[0], "Message-ID", flags)).strip()
        opening = text.find("<")
        closing = text.find(">", opening + 1)
        if opening >= 0 and closing > opening:
            text = text[opening + 1 : closing]
        text = text.strip().strip("<>").strip()
        if not text:
            flags.add("the Message-ID header is empty")
            return None
        if len(text) > _MAX_MESSAGE_ID_CHARS:
            flags.add(f"Message-ID: longer than {_MAX_MESSAGE_ID_CHARS} characters, cut")
            text = text[:_MAX_MESSAGE_ID_CHARS]
        return text

    def _addresses(
        self, values: list[str] | None, label: str, limit: int, flags: _Flags
    ) -> tuple[Address, ...]:
        if not values:
            return ()
        # Structure first, then decode names: decoding before splitting would let an encoded word smuggle
        # a comma or "<other@address>" into the list.
        text = ", ".join(self._raw_text(value, label, flags) for value in values)
        if len(text) > limit:
            flags.add(f"{label}: longer than {limit // 1024} KB, cut")
            text = text[:limit]
        try:
            pairs = getaddresses([text])
        except Exception:  # noqa: BLE001 - pure-Python address parser; recursion on '((((' and the like
            flags.add(f"{label}: could not be read")
            return ()
        addresses = []
        for name, address in pairs:
            name = _clean(self._decode_words(name, label, flags)).strip()
            address = _clean(address).strip()
            if not name and not address:
                continue
            if len(addresses) >= _MAX_ADDRESSES:
                flags.add(f"{label}: more than {_MAX_ADDRESSES} addresses, the rest were not kept")
                break
            addresses.append(
                Address(name=name[:_MAX_AUTH_TEXT_CHARS], address=address[:_MAX_AUTH_TEXT_CHARS])
            )
        if not addresses and text.strip():
            flags.add(f"{label}: no address could be read")
        return tuple(addresses)

    def _return_path(self, values: list[str] | None, flags: _Flags) -> str | None:
        if not values:
            return None
        text = _clean(self._raw_text(values[0], "Return-Path", flags)).strip()[:_MAX_SINGLE_ADDRESS_CHARS]
        try:
            address = parseaddr(text)[1]
        except Exception:  # noqa: BLE001 - pure-Python address parser on attacker text
            address = ""
        address = address or text.strip().strip("<>").strip()
        return address[:_MAX_AUTH_TEXT_CHARS] or None

    def _date(self, values: list[str] | None, flags: _Flags) -> str | None:
        if not values:
            return None
        text = _clean(self._raw_text(values[0], "Date", flags)).strip()[:200]
        try:
            return parsedate_to_datetime(text).isoformat()
        except (TypeError, ValueError, OverflowError, IndexError):
            flags.add("Date: could not be read")
            return None

    def _authentication(self, values: list[str], flags: _Flags) -> tuple[AuthResult, ...]:
        results: list[AuthResult] = []
        receiver_id = ""
        for index, value in enumerate(values[:_MAX_AUTH_HEADERS]):
            text = self._raw_text(value, "Authentication-Results", flags)
            if len(text) > _MAX_AUTH_HEADER_CHARS:
                flags.add(
                    f"Authentication-Results: a header over {_MAX_AUTH_HEADER_CHARS // 1024} KB was cut"
                )
                text = text[:_MAX_AUTH_HEADER_CHARS]
            try:
                authserv_id, parsed = _parse_authentication_results(text)
            except Exception:  # noqa: BLE001 - one unreadable header is a flag, the others still count
                flags.add("Authentication-Results: a header could not be read")
                continue
            if index == 0:
                # Headers are prepended on the way in: the topmost is the receiving organisation's.
                receiver_id = authserv_id
            results.extend(
                replace(result, trusted=index == 0 or bool(receiver_id and result.authserv_id == receiver_id))
                for result in parsed
            )
            if len(results) >= _MAX_AUTH_RESULTS:
                flags.add(
                    f"Authentication-Results: more than {_MAX_AUTH_RESULTS} results, the rest were not kept"
                )
                break
        if len(values) > _MAX_AUTH_HEADERS:
            flags.add(f"more than {_MAX_AUTH_HEADERS} Authentication-Results headers: the rest were not read")
        return tuple(results[:_MAX_AUTH_RESULTS])

    def _antispam(self, headers: dict[str, list[str]], flags: _Flags) -> dict[str, str]:
        antispam: dict[str, str] = {}
        for key, label, wanted in (
            ("x-forefront-antispam-report", "X-Forefront-Antispam-Report", _ANTISPAM_FOREFRONT_KEYS),
            ("x-microsoft-antispam", "X-Microsoft-Antispam", _ANTISPAM_MICROSOFT_KEYS),
        ):
            values = headers.get(key)
            if not values:
                continue
            if len(values) > 1:
                # The topmost is the one the receiving organisation's Exchange Online added; lower ones
                # came with the message and may be the sender's own invention.
                flags.add(f"several {label} headers: the topmost was used")
            text = _clean(self._raw_text(values[0], label, flags))
            for item in text.split(";"):
                name, sep, item_value = item.partition(":")
                name = name.strip().upper()
                item_value = item_value.strip()
                if sep and name in wanted and item_value and name not in antispam:
                    antispam[name] = item_value[:_MAX_ANTISPAM_VALUE_CHARS]
        return antispam

    # --- MIME parts ---

    def _walk(self, message: Message, found: _Found, depth: int, linesep: str) -> None:
        stack: list[tuple[Message, int]] = [(message, 0)]
        while stack:
            part, level = stack.pop()
            if self._budget.parts <= 0:
                found.flags.add(f"more than {_MAX_PARTS:,} MIME parts: the rest were not read")
                break
            self._budget.parts -= 1
            try:
                self._part(part, level, stack, found, depth, linesep)
            except Exception as exc:  # noqa: BLE001 - one unreadable part is a flag, the others still count
                found.flags.add(f"a MIME part could not be read ({type(exc).__name__})")
            for defect in getattr(part, "defects", ()):
                name = type(defect).__name__
                found.defects[name] = found.defects.get(name, 0) + 1

    def _part(
        self,
        part: Message,
        level: int,
        stack: list[tuple[Message, int]],
        found: _Found,
        depth: int,
        linesep: str,
    ) -> None:
        content_type = part.get_content_type()
        maintype = content_type.partition("/")[0]
        if content_type in _INNER_MESSAGE_TYPES:
            self._attached_message(part, found, depth, linesep)
            return
        if maintype == "message" and part.is_multipart():
            return  # delivery-status, disposition-notification, partial: status text, not a message to read
        if content_type in _PKCS7_TYPES:
            self._smime(part, level, stack, found)
            return
        if content_type == "multipart/signed":
            found.flags.add("digitally signed (S/MIME or PGP); the signature was not checked")
        elif content_type == "multipart/encrypted":
            found.flags.add("encrypted (PGP/MIME): the content cannot be read")
        if part.is_multipart():
            if level >= _MAX_MULTIPART_NESTING:
                found.flags.add(f"MIME parts nested more than {_MAX_MULTIPART_NESTING} deep were not read")
                return
            children = part.get_payload()
            stack.extend((child, level + 1) for child in reversed(children) if isinstance(child, Message))
            return
        if maintype == "multipart":
            # The boundary was never found, so the parts are one string: still search it for links.
            data = self._payload_bytes(part)
            found.links.add_text(data[:_MAX_TEXT_SCAN_BYTES].decode("utf-8", "replace"), unescape=True)
            return
        filename = part.get_filename()
        if filename is None and maintype == "text" and part.get_content_disposition() != "attachment":
            self._body_text(part, content_type, found)
            return
        self._attachment(part, content_type, filename, found, depth)

    def _payload_bytes(self, part: Message) -> bytes:
        # The body as received (8-bit bytes surrogate-escaped). Not get_payload(): under compat32 it decodes
        # 8-bit bytes with the declared charset, replacing what doesn't fit, so an 8bit or binary attachment
        # was hashed as U+FFFD characters and a mislabelled body lost its non-ASCII text before we read it.
        payload = part._payload
        if not isinstance(payload, str):
            return b""
        encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
        if encoding == "base64":
            try:
                # a2b_base64 skips line breaks and stray characters itself; an ASCII str needs no copy.
                return binascii.a2b_base64(
                    payload if payload.isascii() else payload.encode("ascii", "ignore")
                )
            except (binascii.Error, ValueError):
                decoded = _lenient_base64(part, payload)
                if decoded is None:
                    decoded = part.get_payload(decode=True)  # the email package pads and records a defect
                return decoded if isinstance(decoded, bytes) else b""
        if encoding == "quoted-printable":
            if payload.isascii():
                return binascii.a2b_qp(payload)
            return binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"))
        if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
            decoded = part.get_payload(decode=True)
            return decoded if isinstance(decoded, bytes) else b""
        return payload.encode("utf-8", "surrogateescape")

    def _body_text(self, part: Message, content_type: str, found: _Found) -> None:
        data = self._payload_bytes(part)
        if len(data) > _MAX_TEXT_SCAN_BYTES:
            found.flags.add(
                f"a text part over {_MAX_TEXT_SCAN_BYTES // 1_048_576} MB was searched for links in part"
            )
            data = data[:_MAX_TEXT_SCAN_BYTES]
        text = self._decode_bytes(data, part.get_content_charset(), "body", found.flags, strict=False)
        if content_type == "text/html":
            self._html(text, found)
        else:
            found.links.add_text(text)

    def _html(self, text: str, found: _Found) -> None:
        allowed = min(len(text), _MAX_HTML_PARSE_CHARS, max(self._budget.html_chars, 0))
        self._budget.html_chars -= allowed
        if allowed:
            finder = _LinkFinder(found.links)
            try:
                # No close(): on some malformed input it is quadratic in the stdlib, and what it would add
                # (an unterminated tag or comment at the very end) is searched below as text instead.
                finder.feed(text[:allowed])
            except Exception:  # noqa: BLE001 - HTMLParser raises AssertionError on some malformed markup
                found.flags.add("an HTML part could not be read in full; it was searched for bare links")
            found.links.add_text(finder.rawdata, unescape=True)
        if allowed < len(text):
            found.flags.add(
                "an HTML part was too large to read in full; the rest was searched for bare links"
            )
            found.links.add_text(text[allowed:], unescape=True)

    def _filename(self, raw_name: str | None, flags: _Flags) -> str:
        if raw_name is None:
            return ""
        name = self._unstructured(str(raw_name), "attachment name", _MAX_FILENAME_CHARS * 4, flags)
        name = _safe_filename(name)
        if len(name) > _MAX_FILENAME_CHARS:
            flags.add(f"an attachment name longer than {_MAX_FILENAME_CHARS} characters was cut")
            name = name[:_MAX_FILENAME_CHARS]
        return name

    def _record_attachment(self, found: _Found, filename: str, declared: str, data: bytes) -> bool:
        if len(found.attachments) >= _MAX_ATTACHMENTS:
            found.flags.add(f"more than {_MAX_ATTACHMENTS} attachments: the rest were not listed")
            return False
        found.attachments.append(
            Attachment(
                filename=filename,
                declared_type=_clean(declared)[:_MAX_FILENAME_CHARS],
                sniffed_type=_sniff(data),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
        return True

    def _attachment(
        self, part: Message, content_type: str, raw_name: str | None, found: _Found, depth: int
    ) -> None:
        data = self._payload_bytes(part)
        filename = self._filename(raw_name, found.flags)
        if not self._record_attachment(found, filename, content_type, data):
            return
        lowered = filename.lower()
        if lowered.endswith(".eml") and looks_like_email(data):
            self._offer_inner(data, found, depth)
        elif is_outlook_msg(data) and (
            lowered.endswith(".msg") or found.attachments[-1].sniffed_type == "application/vnd.ms-outlook"
        ):
            self._offer_outlook_msg(data, found, depth)

    def _offer_outlook_msg(self, data: bytes, found: _Found, depth: int) -> None:
        if found.inner_data is not None or depth >= self._max_depth:
            self._offer_inner(data, found, depth)  # counted or flagged there, never converted
            return
        try:
            mime, conversion_flags = msg_to_mime(data, max_depth=max(self._max_depth - depth - 1, 0))
        except MsgError as exc:
            found.flags.add(f"an attached Outlook .msg could not be read: {exc}")
            return
        found.flags.add("the attached original is an Outlook .msg file, converted to MIME")
        for flag in conversion_flags:
            found.flags.add(flag)
        self._offer_inner(mime, found, depth)

    def _smime(self, part: Message, level: int, stack: list[tuple[Message, int]], found: _Found) -> None:
        """S/MIME `application/pkcs7-mime`: opaque-signed content is read as the body; encrypted content
        cannot be, and says so. The signature is never checked (no trust store could make it mean much)."""
        data = self._payload_bytes(part)
        declared = str(part.get_param("smime-type", "") or "").strip().lower()
        try:
            kind, content = _pkcs7_content(data)
        except (ValueError, IndexError):
            kind, content = "unreadable", None
        if kind == "signed" and content is not None:
            if level >= _MAX_MULTIPART_NESTING:
                found.flags.add(f"MIME parts nested more than {_MAX_MULTIPART_NESTING} deep were not read")
                return
            found.flags.add("signed with S/MIME; the signed content was read (the signature was not checked)")
            stack.append((self._parse(content, found.flags), level + 1))
            return
        name = self._filename(part.get_filename(), found.flags) or "smime.p7m"
        self._record_attachment(found, name, part.get_content_type(), data)
        if kind in ("enveloped", "authenticated-enveloped") or declared in (
            "enveloped-data",
            "authenveloped-data",
        ):
            found.flags.add("encrypted with S/MIME: the content cannot be read")
        elif kind == "compressed" or declared == "compressed-data":
            found.flags.add("S/MIME compressed content was not read")
        else:
            found.flags.add("an S/MIME part could not be read")

    def _attached_message(self, part: Message, found: _Found, depth: int, linesep: str) -> None:
        payload = part.get_payload()
        if isinstance(payload, list):
            data = _flatten(payload[0], linesep) if payload and isinstance(payload[0], Message) else b""
        else:
            data = self._payload_bytes(part)
        encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
        if isinstance(payload, list) and encoding in ("base64", "quoted-printable"):
            # Not allowed by RFC 2046, but sent: the parser read the encoded text as a message; undo that.
            try:
                data = binascii.a2b_base64(data) if encoding == "base64" else binascii.a2b_qp(data)
            except (binascii.Error, ValueError):
                found.flags.add("an attached email has a transfer encoding that could not be decoded")
        filename = self._filename(part.get_filename(), found.flags)
        if self._record_attachment(found, filename, part.get_content_type(), data):
            self._offer_inner(data, found, depth)

    def _offer_inner(self, data: bytes, found: _Found, depth: int) -> None:
        if not data or data.isspace():
            # Nothing to read or to send Microsoft as the original: the report itself stays the original.
            found.flags.add("an attached email is empty")
        elif found.inner_data is not None:
            found.extra_messages += 1
        elif depth >= self._max_depth:
            found.flags.add(f"an attached email nested more than {self._max_depth} deep was not read")
        else:
            found.inner_data = data

    def _defect_flags(self, found: _Found) -> None:
        kinds = list(found.defects)
        for name in kinds[:_MAX_DEFECT_FLAGS]:
            if name == _OverlongParameterHeaderDefect.__name__:
                words = (
                    f"a Content-Type or Content-Disposition over {_MAX_PARAM_HEADER_CHARS // 1024} KB was cut"
                )
            else:
                words = _DEFECT_WORDS.get(name) or _camel_to_words(name)
            found.flags.add(f"MIME: {words}")
        if len(kinds) > _MAX_DEFECT_FLAGS:
            found.flags.add(f"MIME: {len(kinds) - _MAX_DEFECT_FLAGS} more kinds of problem")


def _end_attached_messages(message: Message) -> None:
    """After each part, the feed parser strips the line break that belongs to the boundary (or end) that
    closed it, and skips that when the part is an attached message whose last text sits in a multipart that
    was never closed. Apply those skipped strips (_drop_enclosing_line_break)."""
    stack = [message]
    visits = 0
    while stack and visits <= _MAX_PARTS:
        part = stack.pop()
        visits += 1
        children = part._payload
        if not isinstance(children, list):
            continue
        in_multipart = part.get_content_maintype() == "multipart"
        for child in children:
            if not isinstance(child, Message):
                continue
            inner = child._payload
            if (
                in_multipart
                and child.get_content_maintype() == "message"
                and isinstance(inner, list)
                and len(inner) == 1
                and isinstance(inner[0], Message)
            ):
                _drop_enclosing_line_break(inner[0])
            stack.append(child)


def _drop_enclosing_line_break(message: Message) -> None:
    """The line break before the boundary line that ended an attached message belongs to that boundary
    (RFC 2046; the stdlib treats the end of the input like one), not to the message. The stdlib strips it
    from the message's last text, except when that text is in a multipart that was never closed, or is the
    body of a multipart whose first boundary never came: there it stayed, so the wrapped phish's bytes and
    last attachment differed from the phish read on its own. Strip it from where it stayed."""
    node = message
    missed = False
    while True:
        children = node._payload
        if node.get_content_maintype() == "multipart":
            if isinstance(children, str):
                missed = True  # the stdlib only cleared its (empty) epilogue
                break
            if not isinstance(children, list) or not children or node.epilogue is not None:
                break  # a closed multipart: the stdlib stripped its epilogue
            missed = True
            node = children[-1]
        elif isinstance(children, list) and children:
            node = children[-1]  # message/*: its last text is its content's
        else:
            break
    if not missed:
        return
    if isinstance(node._payload, list):  # a closed multipart: the line break ends its epilogue
        if node.epilogue == "":
            node.epilogue = None
        elif node.epilogue is not None:
            node.epilogue = _without_final_line_break(node.epilogue)
    elif isinstance(node._payload, str):
        node._payload = _without_final_line_break(node._payload)


def _without_final_line_break(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text


def _camel_to_words(name: str) -> str:
    name = name.removesuffix("Defect")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() or "unknown problem"


# --- Authentication-Results (RFC 8601, and Microsoft's variant without an authserv-id) -------------------


def _parse_authentication_results(text: str) -> tuple[str, list[AuthResult]]:
    """(authserv-id, the method results) of one header; the id is "" in Microsoft's form."""
    segments = _authentication_segments(text)
    if not segments:
        return "", []
    authserv_id = ""
    first = segments[0]
    if _is_method_result(first):
        start = 0  # Exchange Online writes "spf=pass (...) smtp.mailfrom=...; dkim=..." with no authserv-id
    else:
        words = [value for kind, value in first if kind in ("word", "quoted")]
        authserv_id = words[0][:_MAX_AUTH_TEXT_CHARS] if words else ""
        start = 1
    results = []
    for segment in segments[start:]:
        result = _method_result(segment, authserv_id)
        if result is not None:
            results.append(result)
    return _clean(authserv_id), results


def _authentication_segments(text: str) -> list[list[tuple[str, str]]]:
    """Tokens (word, quoted, eq, comment) of each ';'-separated piece; whitespace dropped."""
    segments: list[list[tuple[str, str]]] = [[]]
    position = 0
    length = len(text)
    while position < length:
        match = _AR_TOKEN.match(text, position)
        if match is None:  # unreachable: the last alternative matches any character
            break
        kind = match.lastgroup or "other"
        if kind == "comment":
            end = _comment_end(text, match.start())
            segments[-1].append(
                ("comment", text[match.start() + 1 : end - 1 if text[end - 1 : end] == ")" else end])
            )
            position = end
            continue
        position = match.end()
        if kind == "semi":
            segments.append([])
        elif kind == "quoted":
            value = match.group()[1:]
            value = value[:-1] if value.endswith('"') else value
            segments[-1].append(("quoted", re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)))
        elif kind in ("word", "eq"):
            segments[-1].append((kind, match.group()))
    return [segment for segment in segments if segment]


def _comment_end(text: str, start: int) -> int:
    """Index just past the comment opening at `start` (comments nest; a backslash quotes one character)."""
    depth = 0
    position = start
    while True:
        match = _COMMENT_SPECIAL.search(text, position)
        if match is None:
            return len(text)
        char = match.group()
        position = match.end()
        if char == "\\":
            position += 1
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return position


def _is_method_result(segment: list[tuple[str, str]]) -> bool:
    tokens = [token for token in segment if token[0] != "comment"]
    return (
        len(tokens) >= 3
        and tokens[0][0] == "word"
        and tokens[1][0] == "eq"
        and tokens[2][0] in ("word", "quoted")
    )


def _method_result(segment: list[tuple[str, str]], authserv_id: str) -> AuthResult | None:
    if not _is_method_result(segment):
        return None  # "none", a stray domain (Exchange writes "; contoso.com;"), or garbage
    tokens = [token for token in segment if token[0] != "comment"]
    method = tokens[0][1].split("/", 1)[0].strip().lower()[:64]
    result = tokens[2][1].strip().lower()[:64]
    reason = ""
    comment = ""
    index = 3
    while index < len(tokens):
        if index + 2 < len(tokens) and tokens[index][0] == "word" and tokens[index + 1][0] == "eq":
            if tokens[index][1].lower() == "reason" and tokens[index + 2][0] in ("word", "quoted"):
                reason = tokens[index + 2][1]
            index += 3
        else:
            index += 1
    for kind, value in segment:
        if kind == "comment":
            comment = value
            break
    # No reason= property: the comment after the result is the verifier's explanation ("message not signed").
    explanation = " ".join((reason or comment).split())
    return AuthResult(
        method=_clean(method),
        result=_clean(result),
        reason=_clean(explanation)[:_MAX_AUTH_TEXT_CHARS],
        authserv_id=_clean(authserv_id),
    )


# --- S/MIME (CMS, RFC 5652): what kind of content a PKCS #7 blob holds, and the content of a signed one -------

_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_ENVELOPED_DATA = bytes.fromhex("2a864886f70d010703")
_OID_AUTH_ENVELOPED_DATA = bytes.fromhex("2a864886f70d0109100117")
_OID_COMPRESSED_DATA = bytes.fromhex("2a864886f70d0109100109")
_PKCS7_KINDS = {
    _OID_SIGNED_DATA: "signed",
    _OID_ENVELOPED_DATA: "enveloped",
    _OID_AUTH_ENVELOPED_DATA: "authenticated-enveloped",
    _OID_COMPRESSED_DATA: "compressed",
}
_BER_MAX_DEPTH = 24
_BER_MAX_ELEMENTS = 100_000


class _Ber:
    """A bounded BER reader (S/MIME agents write definite DER and indefinite-length BER alike)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.elements = 0

    def header(self, position: int, limit: int) -> tuple[int, int, int | None]:
        """(tag byte, where the contents start, where they end or None for an indefinite length)."""
        self.elements += 1
        if self.elements > _BER_MAX_ELEMENTS or position + 2 > limit:
            raise ValueError("BER: out of bounds")
        data = self.data
        tag = data[position]
        position += 1
        if tag & 0x1F == 0x1F:  # high tag number: skip its base-128 bytes
            for _ in range(4):
                if position >= limit:
                    raise ValueError("BER: truncated tag")
                more = data[position] & 0x80
                position += 1
                if not more:
                    break
        if position >= limit:
            raise ValueError("BER: truncated length")
        length = data[position]
        position += 1
        if length == 0x80:
            if not tag & 0x20:
                raise ValueError("BER: indefinite length on a primitive")
            return tag, position, None
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or position + count > limit:
                raise ValueError("BER: bad length")
            length = int.from_bytes(data[position : position + count], "big")
            position += count
        if position + length > limit:
            raise ValueError("BER: contents past the end")
        return tag, position, position + length

    def end(self, position: int, limit: int, depth: int = 0) -> int:
        """Where the element at `position` ends."""
        _, start, end = self.header(position, limit)
        if end is not None:
            return end
        if depth > _BER_MAX_DEPTH:
            raise ValueError("BER: nested too deep")
        cursor = start
        while True:
            if self.data[cursor : cursor + 2] == b"\x00\x00":
                return cursor + 2
            cursor = self.end(cursor, limit, depth + 1)

    def children(self, position: int, limit: int, depth: int = 0) -> list[int]:
        """Start positions of the elements inside the constructed element at `position`."""
        tag, start, end = self.header(position, limit)
        if not tag & 0x20:
            raise ValueError("BER: not a constructed element")
        found = []
        cursor = start
        stop = end if end is not None else limit
        while cursor < stop:
            if end is None and self.data[cursor : cursor + 2] == b"\x00\x00":
                break
            found.append(cursor)
            cursor = self.end(cursor, stop, depth + 1)
        return found

    def value(self, position: int, limit: int) -> bytes:
        _, start, end = self.header(position, limit)
        if end is None:
            raise ValueError("BER: expected a definite length")
        return self.data[start:end]

    def octets(self, position: int, limit: int, depth: int = 0) -> bytes:
        """An OCTET STRING, joined from its segments when constructed."""
        tag = self.data[position]
        if tag == 0x04:
            return self.value(position, limit)
        if tag != 0x24 or depth > _BER_MAX_DEPTH:
            raise ValueError("BER: expected an OCTET STRING")
        return b"".join(
            self.octets(child, limit, depth + 1) for child in self.children(position, limit, depth)
        )


def _pkcs7_content(data: bytes) -> tuple[str, bytes | None]:
    """(kind, content): kind is "signed", "enveloped", "authenticated-enveloped", "compressed" or "unknown";
    content is the encapsulated content of signed data (for S/MIME a MIME entity), else None.
    Raises ValueError on bytes that are not BER."""
    ber = _Ber(data)
    limit = len(data)
    top = ber.children(0, limit)
    if not top or data[top[0]] != 0x06:
        return "unknown", None
    kind = _PKCS7_KINDS.get(ber.value(top[0], limit), "unknown")
    if kind != "signed" or len(top) < 2 or data[top[1]] != 0xA0:
        return kind, None
    signed = ber.children(top[1], limit)
    if not signed or data[signed[0]] != 0x30:
        return kind, None
    fields = ber.children(signed[0], limit)  # version, digestAlgorithms, encapContentInfo, ...
    if len(fields) < 3 or data[fields[2]] != 0x30:
        return kind, None
    encapsulated = ber.children(fields[2], limit)  # eContentType, [0] eContent
    if len(encapsulated) < 2 or data[encapsulated[1]] != 0xA0:
        return kind, None  # detached: the content travels in the multipart/signed beside it
    explicit = ber.children(encapsulated[1], limit)
    if not explicit:
        return kind, None
    return kind, ber.octets(explicit[0], limit)
