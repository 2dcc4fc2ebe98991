"""Raw RFC 822 bytes -> `ReportedMessage`.

Every byte handed to this module was written by an attacker. The parser reads what it can, says in
`flags` what it could not read, and bounds its work on every axis (bytes, lines, MIME parts, nesting,
HTML, URLs, header lengths). The only exception that leaves `parse_message` is `ParseError`, and only
for input that is not an email at all.

This module is the way in; the reading is in private modules: _reader (one message, and the original wrapped
in it), _walk (its MIME parts), _mime and _flatten (the email package made safe), _headers, _auth_results and
_text (header fields), _links, _attachments, _file_types and _smime, with every bound in _limits.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from bot.domain import ReportedMessage
from bot.email._errors import ParseError
from bot.email._file_types import looks_like_email
from bot.email._limits import DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, MAX_FLAGS
from bot.email._reader import Reader
from bot.email.outlook_msg import MsgError, is_outlook_msg, msg_to_mime

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "ParseError",
    "looks_like_email",
    "original_message_bytes",
    "parse_message",
    "read_report",
]


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
        return Reader(max_depth).read(data, depth=0)
    try:
        mime, conversion_flags = msg_to_mime(data, max_depth=max_depth)
    except MsgError as exc:
        raise ParseError(str(exc), reason="msg_unreadable") from None
    message, original = Reader(max_depth).read(mime, depth=0)
    flags = ("converted from an Outlook .msg file", *conversion_flags, *message.flags)[:MAX_FLAGS]
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
