"""Outlook .msg -> RFC 822 bytes, so that a .msg report is read, deduplicated and submitted like an .eml.

A .msg is an OLE compound file of MAPI properties, read here with extract-msg. Microsoft's submission API takes
RFC 822 content, and the parser reads RFC 822, so the message is rebuilt as MIME:

* the header block is the original's Internet headers when Outlook kept them (PR_TRANSPORT_MESSAGE_HEADERS: a
  received message has them, with Authentication-Results and the anti-spam stamps), minus the Content-*
  headers that described the original body; otherwise From/To/Cc/Subject/Date/Message-ID from the properties;
* the body is the plain text and the HTML Outlook stored (the HTML wrapped in RTF when that is all there is);
* attachments keep their bytes, names and types; an attached Outlook item (forward as attachment) becomes a
  `message/rfc822` part, converted the same way, to a bounded depth;
* an S/MIME message keeps its signed or encrypted MIME entity as it came, for the parser to judge.

The output is deterministic (boundaries derive from the input's hash): the same file converts to the same
bytes, so its content hash deduplicates. Nothing is fetched; attachments are never opened.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import re
from dataclasses import dataclass, field
from email.header import Header
from email.utils import format_datetime, formataddr

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

_MAX_RTF_BYTES = 1024 * 1024  # compressed RTF deencapsulated only below this (a pure-Python parser)
_MAX_ATTACHMENTS = 200
_MAX_RECIPIENTS = 500
_MAX_HEADER_TEXT = 256 * 1024
_DROPPED_HEADERS = frozenset({"content-type", "content-transfer-encoding", "mime-version", "content-length"})
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_SMIME_CLASSES = ("ipm.note.smime",)

log = logging.getLogger(__name__)


class MsgError(Exception):
    """The bytes are not an Outlook message that can be read. Plain English, never quotes the input."""


def is_outlook_msg(data: bytes) -> bool:
    return data[:8] == OLE_MAGIC


@dataclass
class _Conversion:
    seed: str
    max_depth: int
    flags: list[str] = field(default_factory=list)
    boundaries: int = 0

    def flag(self, text: str) -> None:
        if text not in self.flags and len(self.flags) < 20:
            self.flags.append(text)

    def boundary(self) -> str:
        self.boundaries += 1
        return f"----=_phishbot_{self.seed}_{self.boundaries}"


def msg_to_mime(data: bytes, *, max_depth: int = 3) -> tuple[bytes, tuple[str, ...]]:
    """The message as RFC 822 bytes, and flags for what could not be carried over. Raises MsgError."""
    if not is_outlook_msg(data):
        raise MsgError("This is not an Outlook .msg file.")
    try:
        import extract_msg  # imported on first use: it is large, and most reports are .eml
        from extract_msg.enums import ErrorBehavior
    except ImportError:
        log.error("an Outlook .msg was reported, but extract-msg is not installed")
        raise MsgError("Outlook .msg files cannot be read here (extract-msg is not installed).") from None

    # extract-msg logs what it thinks of each file at INFO and WARNING, quoting its contents.
    logging.getLogger("extract_msg").setLevel(logging.ERROR)
    conversion = _Conversion(seed=hashlib.sha256(data).hexdigest()[:20], max_depth=max_depth)
    try:
        msg = extract_msg.openMsg(
            data, strict=False, delayAttachments=True, errorBehavior=ErrorBehavior.SUPPRESS_ALL
        )
    except Exception as exc:  # noqa: BLE001 - olefile and extract-msg on hostile bytes raise anything
        log.info("an Outlook .msg could not be opened: %s", type(exc).__name__)
        raise MsgError("This Outlook .msg file is damaged: it could not be opened.") from None
    try:
        return _message(msg, conversion, depth=0), tuple(conversion.flags)
    except RecursionError:
        raise MsgError("This Outlook .msg file nests items too deeply to be read.") from None
    except MsgError:
        raise
    except Exception as exc:  # noqa: BLE001 - as above: a damaged file is a clear message, not a crash
        log.info("an Outlook .msg could not be converted: %s", type(exc).__name__)
        raise MsgError("This Outlook .msg file could not be read as an email.") from None
    finally:
        with contextlib.suppress(Exception):  # closing an in-memory OLE file cannot matter
            msg.close()


# --- one message ---------------------------------------------------------------------------------------------


def _message(msg, conversion: _Conversion, depth: int) -> bytes:
    headers = _transport_headers(msg, conversion) or _synthesised_headers(msg, conversion)
    class_type = (getattr(msg, "classType", None) or "").strip().lower()
    if class_type.startswith(_SMIME_CLASSES):
        entity = _smime_entity(msg, class_type, conversion)
        if entity is not None:
            return headers + entity
    body = _body(msg, conversion, depth)
    return headers + b"MIME-Version: 1.0\r\n" + body


def _transport_headers(msg, conversion: _Conversion) -> bytes | None:
    try:
        text = msg.headerText
    except Exception:  # noqa: BLE001 - a damaged property stream: fall back to the other properties
        conversion.flag("Outlook .msg: the original Internet headers could not be read")
        return None
    if not text or not text.strip():
        return None
    if text.startswith("Microsoft Mail Internet Headers Version 2.0"):
        text = text[len("Microsoft Mail Internet Headers Version 2.0") :]
    text = text.lstrip("\r\n")[:_MAX_HEADER_TEXT]
    lines: list[str] = []
    keep = False
    for line in re.split(r"\r\n|\n|\r", text):
        if not line.strip():
            if lines:
                break  # the end of the header block; Outlook sometimes keeps a body after it
            continue
        if line[:1] in (" ", "\t"):
            if keep and lines:
                lines.append(line)
            continue
        name, colon, _ = line.partition(":")
        if not colon or not _HEADER_NAME.match(name.strip() or "-") or name != name.rstrip():
            keep = False
            continue
        keep = name.strip().lower() not in _DROPPED_HEADERS
        if keep:
            lines.append(line)
    if not lines:
        return None
    return "".join(line + "\r\n" for line in lines).encode("utf-8", "replace")


def _synthesised_headers(msg, conversion: _Conversion) -> bytes:
    conversion.flag(
        "Outlook .msg without the original Internet headers (sender authentication unknown); "
        "the headers were rebuilt from the file's properties"
    )
    lines: list[str] = []

    def add(name: str, value: str | None) -> None:
        if value:
            lines.append(f"{name}: {_header_value(value)}")

    add("From", _sender(msg))
    to, cc = _recipients(msg)
    add("To", ", ".join(to))
    add("Cc", ", ".join(cc))
    add("Subject", _safe(lambda: msg.subject))
    date = _safe(lambda: msg.date)
    if date is not None:
        try:
            lines.append(f"Date: {format_datetime(date)}")
        except (TypeError, ValueError, OverflowError):
            pass
    message_id = _safe(lambda: msg.messageId)
    if message_id:
        message_id = _single_line(str(message_id)).strip()
        lines.append(f"Message-ID: {message_id if message_id.startswith('<') else '<' + message_id + '>'}")
    return "".join(line + "\r\n" for line in lines).encode("ascii", "replace")


def _sender(msg) -> str | None:
    name = _safe(lambda: msg.getStringStream("__substg1.0_0C1A"))
    address = _safe(lambda: msg.getStringStream("__substg1.0_5D01")) or _safe(
        lambda: msg.getStringStream("__substg1.0_0C1F")
    )
    if address and "@" not in address:
        address = None  # an Exchange DN ("/O=ORG/OU=..."), not an Internet address
    if not name and not address:
        return None
    return _address(name or "", address or "")


def _recipients(msg) -> tuple[list[str], list[str]]:
    to: list[str] = []
    cc: list[str] = []
    for recipient in (_safe(lambda: msg.recipients) or [])[:_MAX_RECIPIENTS]:
        name = _safe(lambda r=recipient: r.name) or ""
        address = _safe(lambda r=recipient: r.email) or ""
        if address and "@" not in address:
            address = ""
        if not name and not address:
            continue
        kind = int(_safe(lambda r=recipient: r.type) or 1)
        (cc if kind == 2 else to).append(_address(name, address))  # 1 To, 2 Cc, 3 Bcc (kept with To)
    return to, cc


def _address(name: str, address: str) -> str:
    name = _single_line(name).strip()
    address = _single_line(address).strip()
    if name == address:
        name = ""
    try:
        return formataddr((name, address), charset="utf-8")
    except (UnicodeError, ValueError):
        return address or name


def _header_value(value: str) -> str:
    value = _single_line(value)
    if value.isascii():
        return value
    return Header(value, "utf-8").encode(maxlinelen=998)


def _single_line(value: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value)


def _safe(read):
    try:
        return read()
    except Exception:  # noqa: BLE001 - one unreadable property must not lose the rest
        return None


# --- bodies and attachments ----------------------------------------------------------------------------------


def _body(msg, conversion: _Conversion, depth: int) -> bytes:
    alternatives: list[bytes] = []
    plain = _safe(lambda: msg.getStringStream("__substg1.0_1000"))
    if plain:
        alternatives.append(_text_part("plain", plain.encode("utf-8"), "utf-8"))
    html = _html(msg, conversion)
    if html:
        alternatives.append(_text_part("html", html, _charset_of(html)))
    if not alternatives:
        alternatives.append(_text_part("plain", b"", "utf-8"))
    if len(alternatives) == 1:
        text = alternatives[0]
    else:
        boundary = conversion.boundary()
        text = _multipart("alternative", boundary, alternatives)
    parts = [text, *_attachments(msg, conversion, depth)]
    if len(parts) == 1:
        return text
    return _multipart("mixed", conversion.boundary(), parts)


def _html(msg, conversion: _Conversion) -> bytes | None:
    html = _safe(lambda: msg.getStream("__substg1.0_10130102"))
    if html:
        return bytes(html)
    compressed = _safe(lambda: msg.compressedRtf)
    if not compressed:
        return None
    if len(compressed) > _MAX_RTF_BYTES:
        conversion.flag(
            "Outlook .msg: the formatted (RTF) body is too large to read; the plain text was used"
        )
        return None
    from extract_msg.enums import DeencapType

    try:
        html = msg.deencapsulateBody(msg.rtfBody, DeencapType.HTML)
    except Exception:  # noqa: BLE001 - RTF from an attacker: the plain text body still counts
        conversion.flag("Outlook .msg: the formatted (RTF) body could not be read; the plain text was used")
        return None
    if isinstance(html, str):
        html = html.encode("utf-8")
    return html or None


def _charset_of(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "windows-1252"
    return "utf-8"


def _attachments(msg, conversion: _Conversion, depth: int) -> list[bytes]:
    from extract_msg.enums import AttachmentType

    try:
        attachments = list(msg.attachments)
    except Exception:  # noqa: BLE001 - the body still counts when the attachment table is damaged
        conversion.flag("Outlook .msg: the attachments could not be read")
        return []
    if len(attachments) > _MAX_ATTACHMENTS:
        conversion.flag(f"Outlook .msg: more than {_MAX_ATTACHMENTS} attachments; the rest were left out")
        attachments = attachments[:_MAX_ATTACHMENTS]
    parts: list[bytes] = []
    for attachment in attachments:
        kind = _safe(lambda a=attachment: a.type)
        name = _attachment_name(attachment)
        if kind in (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED):
            if depth + 1 > conversion.max_depth:
                conversion.flag(
                    f"Outlook .msg: an attached item nested more than {conversion.max_depth} deep"
                )
                continue
            inner = _safe(lambda a=attachment: a.data)
            if inner is None:
                conversion.flag("Outlook .msg: an attached Outlook item could not be read")
                continue
            parts.append(_message_part(_message(inner, conversion, depth + 1), name))
            continue
        data = _safe(lambda a=attachment: a.data)
        if not isinstance(data, bytes | bytearray):
            if kind == AttachmentType.WEB:
                conversion.flag("Outlook .msg: a linked (cloud) attachment is a reference, not carried over")
            else:
                conversion.flag("Outlook .msg: an attachment could not be read")
            continue
        mime_type = (_safe(lambda a=attachment: a.mimetype) or "application/octet-stream").strip().lower()
        if not re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime_type):
            mime_type = "application/octet-stream"
        content_id = _safe(lambda a=attachment: a.contentId)
        hidden = bool(_safe(lambda a=attachment: a.hidden))
        parts.append(_binary_part(bytes(data), mime_type, name, content_id if hidden else None))
    return parts


def _attachment_name(attachment) -> str:
    for read in (lambda: attachment.longFilename, lambda: attachment.name, lambda: attachment.shortFilename):
        name = _safe(read)
        if name:
            name = _single_line(str(name)).strip()
            # extract-msg names an attached item "<subject>.msg"; it is MIME now.
            return name[:255]
    return ""


def _smime_entity(msg, class_type: str, conversion: _Conversion) -> bytes | None:
    """S/MIME in a .msg: the single attachment holds the signed MIME entity, or the PKCS #7 blob."""
    prefix = "__attach_version1.0_#00000000"
    data = _safe(lambda: msg.getStream([prefix, "__substg1.0_37010102"]))
    if not data:
        conversion.flag("Outlook .msg: an S/MIME message without its S/MIME content")
        return None
    data = bytes(data)
    mime_type = (_safe(lambda: msg.getStringStream([prefix, "__substg1.0_370E"])) or "").strip().lower()
    if mime_type.startswith("multipart/signed") or data.lstrip()[:13].lower() == b"content-type:":
        return b"MIME-Version: 1.0\r\n" + data.lstrip()
    smime_type = "signed-data" if "multipartsigned" in class_type else "enveloped-data"
    return (
        f"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type};"
        ' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
        'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    ).encode() + _base64_lines(data)


# --- MIME writing --------------------------------------------------------------------------------------------


def _text_part(subtype: str, data: bytes, charset: str) -> bytes:
    return (
        f"Content-Type: text/{subtype}; charset={charset}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + _base64_lines(data)


def _binary_part(data: bytes, mime_type: str, name: str, content_id: str | None) -> bytes:
    quoted = _quoted_parameter(name)
    disposition = "inline" if content_id else "attachment"
    head = f"Content-Type: {mime_type}"
    head += f"; name={quoted}\r\n" if name else "\r\n"
    head += "Content-Transfer-Encoding: base64\r\n"
    head += f"Content-Disposition: {disposition}" + (f"; filename={quoted}\r\n" if name else "\r\n")
    if content_id:
        head += f"Content-ID: <{_single_line(content_id).strip('<> ')[:200]}>\r\n"
    return head.encode("utf-8") + b"\r\n" + _base64_lines(data)


def _message_part(inner: bytes, name: str) -> bytes:
    encoding = "7bit" if inner.isascii() else "8bit"
    head = "Content-Type: message/rfc822\r\n"
    head += f"Content-Transfer-Encoding: {encoding}\r\n"
    if name:
        head += f"Content-Disposition: attachment; filename={_quoted_parameter(name)}\r\n"
    return head.encode("utf-8") + b"\r\n" + inner


def _quoted_parameter(value: str) -> str:
    value = _single_line(value).replace("\\", "\\\\").replace('"', '\\"')
    if value.isascii():
        return f'"{value}"'
    return '"' + Header(value, "utf-8").encode(maxlinelen=998) + '"'


def _multipart(subtype: str, boundary: str, parts: list[bytes]) -> bytes:
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode())
        out.append(part if part.endswith(b"\r\n") else part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))
