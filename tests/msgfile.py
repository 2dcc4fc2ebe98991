"""Outlook .msg files for tests, written with extract-msg's own OLE writer (extract_msg.OleWriter).

A .msg is an OLE compound file ([MS-CFB]) holding MAPI properties ([MS-OXMSG]): a property stream per object
(`__properties_version1.0`), one stream per variable-length property (`__substg1.0_TTTTIIII`), a storage per
recipient and per attachment, and an embedded message as the `__substg1.0_3701000D` storage of its attachment.
Only what phishbot reads is written: enough for Outlook's own reader, extract-msg, to open it as a message.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

from extract_msg import OleWriter

PT_LONG = 0x0003
PT_UNICODE = 0x001F
PT_BINARY = 0x0102
PT_OBJECT = 0x000D

ATTACH_BY_VALUE = 1
ATTACH_EMBEDDED_MSG = 5


@dataclass
class MsgAttachment:
    filename: str
    data: bytes = b""
    mime_type: str = "application/octet-stream"
    embedded: MsgMessage | None = None  # an attached Outlook item (forward as attachment)


@dataclass
class MsgMessage:
    subject: str = ""
    body: str = ""
    html: bytes | None = None
    rtf_compressed: bytes | None = None  # PR_RTF_COMPRESSED: Outlook's formatted body (HTML wrapped in RTF)
    sender_name: str = ""
    sender_address: str = ""
    to: list[tuple[str, str]] = field(default_factory=list)  # (name, address)
    message_id: str | None = None
    transport_headers: str | None = None  # the original Internet headers (PR_TRANSPORT_MESSAGE_HEADERS)
    message_class: str = "IPM.Note"
    attachments: list[MsgAttachment] = field(default_factory=list)


def _tag(prop_id: int, prop_type: int) -> str:
    return f"__substg1.0_{prop_id:04X}{prop_type:04X}"


class _Properties:
    def __init__(self) -> None:
        self.entries: list[bytes] = []

    def fixed(self, prop_id: int, prop_type: int, value: int) -> None:
        self.entries.append(struct.pack("<IIQ", (prop_id << 16) | prop_type, 0x6, value))

    def variable(self, prop_id: int, prop_type: int, size: int) -> None:
        self.entries.append(struct.pack("<IIII", (prop_id << 16) | prop_type, 0x6, size, 0))


def _write_message(writer: OleWriter, prefix: list[str], message: MsgMessage, *, top: bool) -> None:
    props = _Properties()

    def text(prop_id: int, value: str | None) -> None:
        if value is None or value == "":
            return
        data = value.encode("utf-16-le")
        writer.addEntry([*prefix, _tag(prop_id, PT_UNICODE)], data)
        props.variable(prop_id, PT_UNICODE, len(data) + 2)

    def binary(prop_id: int, value: bytes | None) -> None:
        if not value:
            return
        writer.addEntry([*prefix, _tag(prop_id, PT_BINARY)], value)
        props.variable(prop_id, PT_BINARY, len(value))

    text(0x001A, message.message_class)
    text(0x0037, message.subject)
    text(0x0E1D, message.subject)  # PR_NORMALIZED_SUBJECT
    text(0x1000, message.body)
    binary(0x1013, message.html)
    binary(0x1009, message.rtf_compressed)
    text(0x0C1A, message.sender_name)
    text(0x0C1F, message.sender_address)
    text(0x0C1E, "SMTP" if message.sender_address else None)
    text(0x5D01, message.sender_address)  # PR_SENDER_SMTP_ADDRESS
    text(0x0042, message.sender_name)  # PR_SENT_REPRESENTING_NAME
    text(0x0065, message.sender_address)  # PR_SENT_REPRESENTING_EMAIL_ADDRESS
    text(0x1035, message.message_id)
    text(0x007D, message.transport_headers)
    text(0x0E04, "; ".join(name or address for name, address in message.to))  # PR_DISPLAY_TO

    for index, (name, address) in enumerate(message.to):
        storage = [*prefix, f"__recip_version1.0_#{index:08X}"]
        writer.addEntry(storage, storage=True)
        recipient = _Properties()
        recipient.fixed(0x0C15, PT_LONG, 1)  # PR_RECIPIENT_TYPE: To
        for prop_id, value in (
            (0x3001, name or address),
            (0x3003, address),
            (0x39FE, address),
            (0x3002, "SMTP"),
        ):
            data = value.encode("utf-16-le")
            writer.addEntry([*storage, _tag(prop_id, PT_UNICODE)], data)
            recipient.variable(prop_id, PT_UNICODE, len(data) + 2)
        writer.addEntry([*storage, "__properties_version1.0"], b"\x00" * 8 + b"".join(recipient.entries))

    for index, attachment in enumerate(message.attachments):
        storage = [*prefix, f"__attach_version1.0_#{index:08X}"]
        writer.addEntry(storage, storage=True)
        attach = _Properties()
        for prop_id, value in (
            (0x3707, attachment.filename),
            (0x3704, attachment.filename),
            (0x3001, attachment.filename),
            (0x370E, attachment.mime_type),
        ):
            data = value.encode("utf-16-le")
            writer.addEntry([*storage, _tag(prop_id, PT_UNICODE)], data)
            attach.variable(prop_id, PT_UNICODE, len(data) + 2)
        if attachment.embedded is not None:
            attach.fixed(0x3705, PT_LONG, ATTACH_EMBEDDED_MSG)
            inner = [*storage, _tag(0x3701, PT_OBJECT)]
            writer.addEntry(inner, storage=True)
            attach.variable(0x3701, PT_OBJECT, 0xFFFFFFFF)
            _write_message(writer, inner, attachment.embedded, top=False)
        else:
            attach.fixed(0x3705, PT_LONG, ATTACH_BY_VALUE)
            writer.addEntry([*storage, _tag(0x3701, PT_BINARY)], attachment.data)
            attach.variable(0x3701, PT_BINARY, len(attachment.data))
        writer.addEntry([*storage, "__properties_version1.0"], b"\x00" * 8 + b"".join(attach.entries))

    counts = struct.pack(
        "<IIII", len(message.to), len(message.attachments), len(message.to), len(message.attachments)
    )
    header = b"\x00" * 8 + counts + (b"\x00" * 8 if top else b"")
    writer.addEntry([*prefix, "__properties_version1.0"], header + b"".join(props.entries))


def build_msg(message: MsgMessage) -> bytes:
    """The bytes of an Outlook .msg file holding `message`."""
    writer = OleWriter()
    # The named-property map: empty, but present as in every file Outlook writes.
    writer.addEntry(["__nameid_version1.0"], storage=True)
    for stream in ("__substg1.0_00020102", "__substg1.0_00030102", "__substg1.0_00040102"):
        writer.addEntry(["__nameid_version1.0", stream], b"")
    _write_message(writer, [], message, top=True)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
