"""What bytes are, whatever the sender declared: an email (a header block), or a file type by its magic.

Cheap on purpose: a bounded prefix and suffix are read, nothing attacker-made is decompressed or run.
"""

from __future__ import annotations

import codecs
import re

from bot.email._limits import SNIFF_BYTES

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

_FIELD_LINE = re.compile(rb"[!-9;-~]{1,100}[ \t]*:")


def looks_like_email(raw: bytes) -> bool:
    """Cheap sniff: the bytes start with an RFC 822 header block that names at least one mail header."""
    head = bytes(raw[:SNIFF_BYTES])
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


# Checked in this order after the containers (PDF, ZIP, OLE, DOS/PE), each a fixed prefix of the file.
_MAGIC_PREFIXES: tuple[tuple[bytes | tuple[bytes, ...], str], ...] = (
    (b"\x7fELF", "application/x-executable"),
    (b"\x1f\x8b", "application/gzip"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    ((b"GIF87a", b"GIF89a"), "image/gif"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"{\\rtf", "application/rtf"),
)
_HTML_TAGS = (b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<form", b"<meta")


def sniff(data: bytes) -> str:
    """The type the bytes say they are, whatever the sender declared."""
    if not data:
        return "application/x-empty"
    head = data[:SNIFF_BYTES]
    return _container_type(data, head) or _magic_type(data, head) or _markup_type(head) or _text_type(head)


def _container_type(data: bytes, head: bytes) -> str | None:
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
    return None


def _magic_type(data: bytes, head: bytes) -> str | None:
    for prefix, kind in _MAGIC_PREFIXES:
        if head.startswith(prefix):
            return kind
    if data[0x8001:0x8006] == b"CD001":
        return "application/x-iso9660-image"
    return None


def _markup_type(head: bytes) -> str | None:
    text = head.lstrip(codecs.BOM_UTF8).lstrip(b" \t\r\n")
    if not text.startswith(b"<"):
        return None
    lowered = text[:1024].lower()
    if b"<svg" in lowered:
        return "image/svg+xml"
    if lowered.startswith(b"<!doctype html") or any(tag in lowered for tag in _HTML_TAGS):
        return "text/html"
    if lowered.startswith(b"<?xml"):
        return "application/xml"
    return None


def _text_type(head: bytes) -> str:
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
