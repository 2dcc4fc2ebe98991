"""A MIME tree back to bytes, each body exactly as received: an attached message re-serialised for reading
on its own, and for Microsoft as the original.
"""

from __future__ import annotations

import io
import re
from email.generator import BytesGenerator
from email.message import Message
from typing import TYPE_CHECKING, Any

from bot.email._mime import POLICY

if TYPE_CHECKING:
    # The private part of email.generator.Generator this module extends, which typeshed leaves out.
    class _StdlibGenerator(BytesGenerator):
        _NL: str
        _fp: Any

        def _write(self, msg: Message) -> None: ...
        def _write_headers(self, msg: Message) -> None: ...
        def _dispatch(self, msg: Message) -> None: ...
        def _handle_text(self, msg: Message) -> None: ...
        def _handle_multipart(self, msg: Message) -> None: ...
        def _handle_message(self, msg: Message) -> None: ...
else:
    _StdlibGenerator = BytesGenerator

_NEWLINE = re.compile(r"\r\n|\r|\n")
_WRITE_CHUNK = 1024 * 1024


class _Generator(_StdlibGenerator):
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


def flatten(message: Message, linesep: str) -> bytes:
    buffer = io.BytesIO()
    _Generator(buffer, mangle_from_=False, policy=POLICY.clone(linesep=linesep)).flatten(message)
    return buffer.getvalue()
