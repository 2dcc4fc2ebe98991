"""One message's MIME parts, walked: links from its text and HTML, its attachments, S/MIME, and the one
attached email (a forwarded phish, .eml or Outlook .msg) to read next as the original.

Every part is read on its own: one that fails becomes a flag and the walk goes on.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from email.message import Message

from bot.domain import Attachment
from bot.email._attachments import attachment_filename, record_attachment
from bot.email._file_types import looks_like_email
from bot.email._flatten import flatten
from bot.email._limits import MAX_MULTIPART_NESTING, MAX_PARTS, MAX_TEXT_SCAN_BYTES, Budget, Flags
from bot.email._links import Links, search_html
from bot.email._mime import parse_tree, payload_bytes, raw_payload
from bot.email._smime import pkcs7_content
from bot.email._text import decode_bytes
from bot.email.outlook_msg import MsgError, is_outlook_msg, msg_to_mime

_INNER_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
_PKCS7_TYPES = frozenset({"application/pkcs7-mime", "application/x-pkcs7-mime"})


@dataclass
class Found:
    """What one message's headers and MIME parts yielded, before the wrapped message (if any) is read."""

    flags: Flags
    links: Links
    attachments: list[Attachment] = field(default_factory=list)
    defects: dict[str, int] = field(default_factory=dict)
    inner_data: bytes | None = None
    extra_messages: int = 0


class PartWalker:
    """Reads the MIME parts of one message, `depth` attached emails inside the report, into a Found, within the
    report's shared budget. One walker per message."""

    def __init__(self, found: Found, *, depth: int, max_depth: int, linesep: str, budget: Budget) -> None:
        self._found = found
        self._flags = found.flags
        self._depth = depth
        self._max_depth = max_depth
        self._linesep = linesep  # of the message: an attached message is written back with it
        self._budget = budget
        self._stack: list[tuple[Message, int]] = []  # (part, multipart nesting level), read last first

    def walk(self, message: Message) -> None:
        self._stack.append((message, 0))
        while self._stack:
            part, level = self._stack.pop()
            if self._budget.parts <= 0:
                self._flags.add(f"more than {MAX_PARTS:,} MIME parts: the rest were not read")
                break
            self._budget.parts -= 1
            try:
                self._part(part, level)
            except Exception as exc:  # noqa: BLE001 - one unreadable part is a flag, the others still count
                self._flags.add(f"a MIME part could not be read ({type(exc).__name__})")
            for defect in getattr(part, "defects", ()):
                name = type(defect).__name__
                self._found.defects[name] = self._found.defects.get(name, 0) + 1

    def _part(self, part: Message, level: int) -> None:
        content_type = part.get_content_type()
        maintype = content_type.partition("/")[0]
        if content_type in _INNER_MESSAGE_TYPES:
            self._attached_message(part)
            return
        if maintype == "message" and part.is_multipart():
            return  # delivery-status, disposition-notification, partial: status text, not a message to read
        if content_type in _PKCS7_TYPES:
            self._smime(part, level)
            return
        if content_type == "multipart/signed":
            self._flags.add("digitally signed (S/MIME or PGP); the signature was not checked")
        elif content_type == "multipart/encrypted":
            self._flags.add("encrypted (PGP/MIME): the content cannot be read")
        if part.is_multipart():
            if level >= MAX_MULTIPART_NESTING:
                self._flags.add(f"MIME parts nested more than {MAX_MULTIPART_NESTING} deep were not read")
                return
            children = raw_payload(part)  # a list: is_multipart() says so
            self._stack.extend(
                (child, level + 1) for child in reversed(children) if isinstance(child, Message)
            )
            return
        if maintype == "multipart":
            # The boundary was never found, so the parts are one string: still search it for links.
            data = payload_bytes(part)
            self._found.links.add_text(data[:MAX_TEXT_SCAN_BYTES].decode("utf-8", "replace"), unescape=True)
            return
        filename = part.get_filename()
        if filename is None and maintype == "text" and part.get_content_disposition() != "attachment":
            self._body_text(part, content_type)
            return
        self._attachment(part, content_type, filename)

    def _body_text(self, part: Message, content_type: str) -> None:
        data = payload_bytes(part)
        if len(data) > MAX_TEXT_SCAN_BYTES:
            self._flags.add(
                f"a text part over {MAX_TEXT_SCAN_BYTES // 1_048_576} MB was searched for links in part"
            )
            data = data[:MAX_TEXT_SCAN_BYTES]
        text = decode_bytes(data, part.get_content_charset(), "body", self._flags, strict=False)
        if content_type == "text/html":
            search_html(text, self._found.links, self._flags, self._budget)
        else:
            self._found.links.add_text(text)

    def _attachment(self, part: Message, content_type: str, raw_name: str | None) -> None:
        data = payload_bytes(part)
        filename = attachment_filename(raw_name, self._flags)
        if not record_attachment(self._found.attachments, self._flags, filename, content_type, data):
            return
        lowered = filename.lower()
        if lowered.endswith(".eml") and looks_like_email(data):
            self._offer_inner(data)
        elif is_outlook_msg(data) and (
            lowered.endswith(".msg")
            or self._found.attachments[-1].sniffed_type == "application/vnd.ms-outlook"
        ):
            self._offer_outlook_msg(data)

    def _offer_outlook_msg(self, data: bytes) -> None:
        if self._found.inner_data is not None or self._depth >= self._max_depth:
            self._offer_inner(data)  # counted or flagged there, never converted
            return
        try:
            mime, conversion_flags = msg_to_mime(data, max_depth=max(self._max_depth - self._depth - 1, 0))
        except MsgError as exc:
            self._flags.add(f"an attached Outlook .msg could not be read: {exc}")
            return
        self._flags.add("the attached original is an Outlook .msg file, converted to MIME")
        for flag in conversion_flags:
            self._flags.add(flag)
        self._offer_inner(mime)

    def _smime(self, part: Message, level: int) -> None:
        """S/MIME `application/pkcs7-mime`: opaque-signed content is read as the body; encrypted content
        cannot be, and says so. The signature is never checked (no trust store could make it mean much)."""
        data = payload_bytes(part)
        declared = str(part.get_param("smime-type", "") or "").strip().lower()
        try:
            kind, content = pkcs7_content(data)
        except (ValueError, IndexError):
            kind, content = "unreadable", None
        if kind == "signed" and content is not None:
            if level >= MAX_MULTIPART_NESTING:
                self._flags.add(f"MIME parts nested more than {MAX_MULTIPART_NESTING} deep were not read")
                return
            self._flags.add("signed with S/MIME; the signed content was read (the signature was not checked)")
            self._stack.append((parse_tree(content, self._flags), level + 1))
            return
        name = attachment_filename(part.get_filename(), self._flags) or "smime.p7m"
        record_attachment(self._found.attachments, self._flags, name, part.get_content_type(), data)
        if kind in ("enveloped", "authenticated-enveloped") or declared in (
            "enveloped-data",
            "authenveloped-data",
        ):
            self._flags.add("encrypted with S/MIME: the content cannot be read")
        elif kind == "compressed" or declared == "compressed-data":
            self._flags.add("S/MIME compressed content was not read")
        else:
            self._flags.add("an S/MIME part could not be read")

    def _attached_message(self, part: Message) -> None:
        payload = part.get_payload()
        if isinstance(payload, list):
            data = flatten(payload[0], self._linesep) if payload and isinstance(payload[0], Message) else b""
        else:
            data = payload_bytes(part)
        encoding = str(part.get("content-transfer-encoding") or "").strip().lower()
        if isinstance(payload, list) and encoding in ("base64", "quoted-printable"):
            # Not allowed by RFC 2046, but sent: the parser read the encoded text as a message; undo that.
            try:
                data = binascii.a2b_base64(data) if encoding == "base64" else binascii.a2b_qp(data)
            except (binascii.Error, ValueError):
                self._flags.add("an attached email has a transfer encoding that could not be decoded")
        filename = attachment_filename(part.get_filename(), self._flags)
        if record_attachment(self._found.attachments, self._flags, filename, part.get_content_type(), data):
            self._offer_inner(data)

    def _offer_inner(self, data: bytes) -> None:
        if not data or data.isspace():
            # Nothing to read or to send Microsoft as the original: the report itself stays the original.
            self._flags.add("an attached email is empty")
        elif self._found.inner_data is not None:
            self._found.extra_messages += 1
        elif self._depth >= self._max_depth:
            self._flags.add(f"an attached email nested more than {self._max_depth} deep was not read")
        else:
            self._found.inner_data = data
