"""Attachments as a report lists them: a safe file name, the declared and the sniffed type, size and hash.

The name is the sender's word and the declared type too; the sniffed type is what the bytes are.
"""

from __future__ import annotations

import hashlib

from bot.domain import Attachment
from bot.email._file_types import sniff
from bot.email._limits import MAX_ATTACHMENTS, MAX_FILENAME_CHARS, Flags
from bot.email._text import clean, unstructured


def attachment_filename(raw_name: str | None, flags: Flags) -> str:
    """The last path segment of the declared name, decoded and cleaned; "" when there is none."""
    if raw_name is None:
        return ""
    name = unstructured(str(raw_name), "attachment name", MAX_FILENAME_CHARS * 4, flags)
    name = _safe_filename(name)
    if len(name) > MAX_FILENAME_CHARS:
        flags.add(f"an attachment name longer than {MAX_FILENAME_CHARS} characters was cut")
        name = name[:MAX_FILENAME_CHARS]
    return name


def record_attachment(
    attachments: list[Attachment], flags: Flags, filename: str, declared: str, data: bytes
) -> bool:
    """Lists the attachment; False when the list is full (and flagged)."""
    if len(attachments) >= MAX_ATTACHMENTS:
        flags.add(f"more than {MAX_ATTACHMENTS} attachments: the rest were not listed")
        return False
    attachments.append(
        Attachment(
            filename=filename,
            declared_type=clean(declared)[:MAX_FILENAME_CHARS],
            sniffed_type=sniff(data),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
    )
    return True


def _safe_filename(name: str) -> str:
    name = name.replace("\\", "/")
    base = name.rsplit("/", 1)[-1].strip()
    if not base:
        base = name.replace("/", "").strip()
    return base
