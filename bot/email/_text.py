"""Attacker text to safe text: header unfolding, RFC 2047 encoded words, charsets, control characters.

What cannot be decoded is read with a stand-in and said in a flag, never raised.
"""

from __future__ import annotations

import binascii
import codecs
import re

from bot.email._limits import MAX_HEADER_CHARS, Flags

_FOLD = re.compile(r"(?:\r\n|\n|\r)(?=[ \t])")
_LINE_BREAK = re.compile(r"[\r\n]+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,64})\?([QqBb])\?([^?]*)\?=")
_CHARSET_FOR_FLAG = re.compile(r"[^A-Za-z0-9._:+-]")

_REFUSED_CODECS = frozenset({"idna", "punycode", "raw_unicode_escape", "unicode_escape", "undefined"})
_ASCII_CHARSETS = frozenset({"", "ascii", "us-ascii", "us_ascii", "ansi_x3.4-1968"})


def clean(text: str) -> str:
    """No NUL, no control characters, no lone surrogates: strings go to Postgres, JSON and Slack."""
    if _SURROGATE.search(text):
        try:  # 8-bit bytes the parser surrogate-escaped: read them as UTF-8
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        except UnicodeEncodeError:  # a surrogate that never was a byte (a UTF-7 body can make one)
            text = _SURROGATE.sub("\ufffd", text)
    text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    return _CONTROL.sub("", text)


def for_flag(value: str) -> str:
    """A short, inert rendering of an attacker-chosen token (a charset name) for a flag."""
    return _CHARSET_FOR_FLAG.sub("", value)[:40] or "?"


def codec_for(charset: str | None) -> str | None:
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


def raw_text(value: str, label: str, flags: Flags) -> str:
    """Unfolded text of one header: 8-bit bytes read as UTF-8 (else Windows-1252), no line breaks."""
    if len(value) > MAX_HEADER_CHARS:
        value = value[:MAX_HEADER_CHARS]
        flags.add(f"{label}: longer than {MAX_HEADER_CHARS // 1024} KB, cut")
    if not value.isascii():
        raw = value.encode("utf-8", "surrogateescape")
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("cp1252", "replace")
            flags.add(f"{label}: 8-bit text that is not UTF-8, read as Windows-1252")
    value = _FOLD.sub("", value)
    return _LINE_BREAK.sub(" ", value)


def decode_words(text: str, label: str, flags: Flags) -> str:
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
            pieces.append(decode_bytes(bytes(pending), pending_charset, label, flags, strict=True))
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


def decode_bytes(data: bytes, charset: str | None, label: str, flags: Flags, *, strict: bool) -> str:
    codec = codec_for(charset)
    if codec is None:
        flags.add(f"{label}: unknown charset {for_flag(charset or '')}, read as UTF-8")
        return data.decode("utf-8", "replace")
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if strict:
            flags.add(f"{label}: text is not valid {for_flag(codec)}")
        elif codec == "utf-8":
            return data.decode("cp1252", "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        codec = "utf-8"
    try:
        return data.decode(codec, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        return data.decode("utf-8", "replace")


def unstructured(value: str, label: str, limit: int, flags: Flags) -> str:
    text = clean(decode_words(raw_text(value, label, flags), label, flags)).strip()
    if len(text) > limit:
        flags.add(f"{label}: longer than {limit:,} characters, cut")
        text = text[:limit]
    return text
