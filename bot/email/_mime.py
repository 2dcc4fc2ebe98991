"""The email package, made safe for attacker MIME: bytes to a tree of parts, and a part's body as received.

The stdlib's feed parser does the MIME reading; this module bounds it (linear parameter splitting, body lines
joined, a work estimate before parsing), reads bodies without compat32's lossy decoding, and repairs the one
place its tree differs from the bytes (the line break that ends an attached message).
"""

from __future__ import annotations

import binascii
import io
import re
from email import errors
from email.feedparser import BytesFeedParser
from email.message import Message
from email.policy import Compat32
from email.utils import decode_params
from typing import TYPE_CHECKING, Any

from bot.email._limits import (
    MAX_HEADER_BLOCK_FALLBACK,
    MAX_PARAM_HEADER_CHARS,
    MAX_PARSE_WORK,
    MAX_PARTS,
    Flags,
)

if TYPE_CHECKING:
    # The stdlib's private line buffer and the feed parser's attribute holding it, which typeshed leaves out.
    class BufferedSubFile:
        _lines: Any

        def pushlines(self, lines: list[str]) -> None: ...

    class _StdlibFeedParser(BytesFeedParser):
        _input: BufferedSubFile
else:
    from email.feedparser import BufferedSubFile

    _StdlibFeedParser = BytesFeedParser

FEED_CHUNK = 64 * 1024


def raw_payload(part: Message) -> Any:
    """What the feed parser stored: the body as received (a str, 8-bit bytes surrogate-escaped) or the list
    of subparts. Not get_payload(), which decodes or copies."""
    return part._payload  # type: ignore[attr-defined]  # the stdlib's own attribute, not in typeshed


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


POLICY = _RawHeaders()


class OverlongParameterHeaderDefect(errors.MessageDefect):
    """Recorded on a part whose Content-Type or Content-Disposition was cut before reading its parameters."""


class SafeMessage(Message):
    # The stdlib's parameter splitter (email.message._parseparam) is quadratic in the header length, and the
    # feed parser calls it (get_boundary) on every part: a 1 MB Content-Type would stall the parse for
    # minutes. This is the same logic, linear, on a bounded prefix of the header.
    def _get_params_preserve(self, failobj, header):
        value = self.get(header)
        if value is None:
            return failobj
        text = str(value)
        if len(text) > MAX_PARAM_HEADER_CHARS:
            text = text[:MAX_PARAM_HEADER_CHARS]
            if not any(isinstance(defect, OverlongParameterHeaderDefect) for defect in self.defects):
                self.defects.append(OverlongParameterHeaderDefect())
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


class FeedParser(_StdlibFeedParser):
    def __init__(self) -> None:
        super().__init__(_factory=SafeMessage, policy=POLICY)
        if type(self._input) is BufferedSubFile:  # a future Python with another buffer keeps its own
            self._input = _Lines()


def parse_bytes(data: bytes) -> Message:
    parser = FeedParser()
    for start in range(0, len(data), FEED_CHUNK):
        parser.feed(data[start : start + FEED_CHUNK])
    return parser.close()


def _header_block(data: bytes) -> bytes:
    head = data[:MAX_HEADER_BLOCK_FALLBACK]
    ends = [index for index in (head.find(b"\n\n"), head.find(b"\n\r\n")) if index >= 0]
    return head[: min(ends) + 1] if ends else head


def _parse_work(data: bytes) -> int:
    lines = data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")
    if lines * 2 > MAX_PARSE_WORK:
        return lines * 2
    # An upper bound on multipart nesting: every nested multipart needs a boundary parameter.
    return lines * (2 + data.lower().count(b"boundary"))


def parse_tree(body: bytes, flags: Flags) -> Message:
    """The MIME tree of `body`, or of its header block alone when the body would cost too much or fails."""
    if _parse_work(body) > MAX_PARSE_WORK:
        flags.add("the body was not read: too many lines, or MIME parts nested too deep; headers only")
        return parse_bytes(_header_block(body))
    try:
        return parse_bytes(body)
    except RecursionError:
        flags.add("the body was not read: MIME parts nested too deep; headers only")
    except Exception as exc:  # noqa: BLE001 - the email package on hostile MIME; fall back to headers
        flags.add(f"the MIME structure could not be read ({type(exc).__name__}); headers only")
    return parse_bytes(_header_block(body))


def payload_bytes(part: Message) -> bytes:
    """A leaf part's body, its transfer encoding undone; b"" for a multipart."""
    # The body as received (8-bit bytes surrogate-escaped). Not get_payload(): under compat32 it decodes
    # 8-bit bytes with the declared charset, replacing what doesn't fit, so an 8bit or binary attachment
    # was hashed as U+FFFD characters and a mislabelled body lost its non-ASCII text before we read it.
    payload = raw_payload(part)
    if not isinstance(payload, str):
        return b""
    encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
    if encoding == "base64":
        try:
            # a2b_base64 skips line breaks and stray characters itself; an ASCII str needs no copy.
            return binascii.a2b_base64(payload if payload.isascii() else payload.encode("ascii", "ignore"))
        except (binascii.Error, ValueError):
            decoded = lenient_base64(part, payload)
            if decoded is not None:
                return decoded
            return _decoded_by_stdlib(part)  # the email package pads and records a defect
    if encoding == "quoted-printable":
        if payload.isascii():
            return binascii.a2b_qp(payload)
        return binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"))
    if encoding in ("x-uuencode", "uuencode", "uue", "x-uue"):
        return _decoded_by_stdlib(part)
    return payload.encode("utf-8", "surrogateescape")


def _decoded_by_stdlib(part: Message) -> bytes:
    decoded = part.get_payload(decode=True)
    return decoded if isinstance(decoded, bytes) else b""


_BASE64_CHUNK = 1024 * 1024
_NOT_BASE64 = bytes(
    sorted(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
)
_PADDING_ONLY_WRONG = re.compile(r"[A-Za-z0-9+/\r\n]*+(?:=[\r\n]*+)?")


def lenient_base64(part: Message, payload: str) -> bytes | None:
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


def end_attached_messages(message: Message) -> None:
    """After each part, the feed parser strips the line break that belongs to the boundary (or end) that
    closed it, and skips that when the part is an attached message whose last text sits in a multipart that
    was never closed. Apply those skipped strips (_drop_enclosing_line_break)."""
    stack = [message]
    visits = 0
    while stack and visits <= MAX_PARTS:
        part = stack.pop()
        visits += 1
        children = raw_payload(part)
        if not isinstance(children, list):
            continue
        in_multipart = part.get_content_maintype() == "multipart"
        for child in children:
            if not isinstance(child, Message):
                continue
            inner = raw_payload(child)
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
        children = raw_payload(node)
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
    if isinstance(raw_payload(node), list):  # a closed multipart: the line break ends its epilogue
        if node.epilogue == "":
            node.epilogue = None
        elif node.epilogue is not None:
            node.epilogue = _without_final_line_break(node.epilogue)
    elif isinstance(raw_payload(node), str):
        node.set_payload(_without_final_line_break(raw_payload(node)))


def _without_final_line_break(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text
