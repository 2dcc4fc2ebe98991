"""One message's bytes to a `ReportedMessage`, and the attached original inside it, read the same way, one
level deeper each time, up to max_depth.

Never raises: whatever cannot be read becomes a flag.
"""

from __future__ import annotations

import codecs
import hashlib
import re

from bot.domain import ReportedMessage
from bot.email._headers import header_fields
from bot.email._limits import MAX_DEFECT_FLAGS, MAX_PARAM_HEADER_CHARS, Budget, Flags
from bot.email._links import Links
from bot.email._mime import OverlongParameterHeaderDefect, end_attached_messages, parse_tree
from bot.email._walk import Found, PartWalker

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


class Reader:
    """Reads a report and the messages wrapped in it, sharing one work budget."""

    def __init__(self, max_depth: int) -> None:
        self._max_depth = max(0, max_depth)
        self._budget = Budget()

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
        flags = Flags()
        found = Found(flags=flags, links=Links(flags))
        body = data
        if body.startswith(codecs.BOM_UTF8):
            body = body[len(codecs.BOM_UTF8) :]
        if body[:1] in (b" ", b"\t", b"\r", b"\n"):
            body = body.lstrip(b" \t\r\n")
        linesep = "\r\n" if b"\r\n" in body[:4096] else "\n"

        message = parse_tree(body, flags)
        end_attached_messages(message)
        fields = header_fields(message, flags)
        PartWalker(found, depth=depth, max_depth=self._max_depth, linesep=linesep, budget=self._budget).walk(
            message
        )
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
                message_id=fields.message_id,
                subject=fields.subject,
                from_=fields.from_,
                sender=fields.sender,
                reply_to=fields.reply_to,
                return_path=fields.return_path,
                to=fields.to,
                cc=fields.cc,
                date=fields.date,
                authentication=fields.authentication,
                antispam=fields.antispam,
                urls=tuple(found.links.urls),
                attachments=tuple(found.attachments),
                inner=inner,
                flags=flags.values(),
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            ),
            original,
        )

    def _defect_flags(self, found: Found) -> None:
        kinds = list(found.defects)
        for name in kinds[:MAX_DEFECT_FLAGS]:
            if name == OverlongParameterHeaderDefect.__name__:
                words = (
                    f"a Content-Type or Content-Disposition over {MAX_PARAM_HEADER_CHARS // 1024} KB was cut"
                )
            else:
                words = _DEFECT_WORDS.get(name) or _camel_to_words(name)
            found.flags.add(f"MIME: {words}")
        if len(kinds) > MAX_DEFECT_FLAGS:
            found.flags.add(f"MIME: {len(kinds) - MAX_DEFECT_FLAGS} more kinds of problem")


def _camel_to_words(name: str) -> str:
    name = name.removesuffix("Defect")
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower() or "unknown problem"
