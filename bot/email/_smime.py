"""S/MIME (CMS, RFC 5652): what kind of content a PKCS #7 blob holds, and the content of a signed one.

Only enough BER to find the encapsulated content, bounded in elements and nesting; no signature is checked and
nothing is decrypted.
"""

from __future__ import annotations

from bot.email._limits import BER_MAX_DEPTH, BER_MAX_ELEMENTS

_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")
_OID_ENVELOPED_DATA = bytes.fromhex("2a864886f70d010703")
_OID_AUTH_ENVELOPED_DATA = bytes.fromhex("2a864886f70d0109100117")
_OID_COMPRESSED_DATA = bytes.fromhex("2a864886f70d0109100109")
_PKCS7_KINDS = {
    _OID_SIGNED_DATA: "signed",
    _OID_ENVELOPED_DATA: "enveloped",
    _OID_AUTH_ENVELOPED_DATA: "authenticated-enveloped",
    _OID_COMPRESSED_DATA: "compressed",
}


class _Ber:
    """A bounded BER reader (S/MIME agents write definite DER and indefinite-length BER alike)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.elements = 0

    def header(self, position: int, limit: int) -> tuple[int, int, int | None]:
        """(tag byte, where the contents start, where they end or None for an indefinite length)."""
        self.elements += 1
        if self.elements > BER_MAX_ELEMENTS or position + 2 > limit:
            raise ValueError("BER: out of bounds")
        data = self.data
        tag = data[position]
        position += 1
        if tag & 0x1F == 0x1F:  # high tag number: skip its base-128 bytes
            for _ in range(4):
                if position >= limit:
                    raise ValueError("BER: truncated tag")
                more = data[position] & 0x80
                position += 1
                if not more:
                    break
        if position >= limit:
            raise ValueError("BER: truncated length")
        length = data[position]
        position += 1
        if length == 0x80:
            if not tag & 0x20:
                raise ValueError("BER: indefinite length on a primitive")
            return tag, position, None
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 4 or position + count > limit:
                raise ValueError("BER: bad length")
            length = int.from_bytes(data[position : position + count], "big")
            position += count
        if position + length > limit:
            raise ValueError("BER: contents past the end")
        return tag, position, position + length

    def end(self, position: int, limit: int, depth: int = 0) -> int:
        """Where the element at `position` ends."""
        _, start, end = self.header(position, limit)
        if end is not None:
            return end
        if depth > BER_MAX_DEPTH:
            raise ValueError("BER: nested too deep")
        cursor = start
        while True:
            if self.data[cursor : cursor + 2] == b"\x00\x00":
                return cursor + 2
            cursor = self.end(cursor, limit, depth + 1)

    def children(self, position: int, limit: int, depth: int = 0) -> list[int]:
        """Start positions of the elements inside the constructed element at `position`."""
        tag, start, end = self.header(position, limit)
        if not tag & 0x20:
            raise ValueError("BER: not a constructed element")
        found = []
        cursor = start
        stop = end if end is not None else limit
        while cursor < stop:
            if end is None and self.data[cursor : cursor + 2] == b"\x00\x00":
                break
            found.append(cursor)
            cursor = self.end(cursor, stop, depth + 1)
        return found

    def value(self, position: int, limit: int) -> bytes:
        _, start, end = self.header(position, limit)
        if end is None:
            raise ValueError("BER: expected a definite length")
        return self.data[start:end]

    def octets(self, position: int, limit: int, depth: int = 0) -> bytes:
        """An OCTET STRING, joined from its segments when constructed."""
        tag = self.data[position]
        if tag == 0x04:
            return self.value(position, limit)
        if tag != 0x24 or depth > BER_MAX_DEPTH:
            raise ValueError("BER: expected an OCTET STRING")
        return b"".join(
            self.octets(child, limit, depth + 1) for child in self.children(position, limit, depth)
        )


def pkcs7_content(data: bytes) -> tuple[str, bytes | None]:
    """(kind, content): kind is "signed", "enveloped", "authenticated-enveloped", "compressed" or "unknown";
    content is the encapsulated content of signed data (for S/MIME a MIME entity), else None.
    Raises ValueError on bytes that are not BER."""
    ber = _Ber(data)
    limit = len(data)
    top = ber.children(0, limit)
    if not top or data[top[0]] != 0x06:
        return "unknown", None
    kind = _PKCS7_KINDS.get(ber.value(top[0], limit), "unknown")
    if kind != "signed" or len(top) < 2 or data[top[1]] != 0xA0:
        return kind, None
    signed = ber.children(top[1], limit)
    if not signed or data[signed[0]] != 0x30:
        return kind, None
    fields = ber.children(signed[0], limit)  # version, digestAlgorithms, encapContentInfo, ...
    if len(fields) < 3 or data[fields[2]] != 0x30:
        return kind, None
    encapsulated = ber.children(fields[2], limit)  # eContentType, [0] eContent
    if len(encapsulated) < 2 or data[encapsulated[1]] != 0xA0:
        return kind, None  # detached: the content travels in the multipart/signed beside it
    explicit = ber.children(encapsulated[1], limit)
    if not explicit:
        return kind, None
    return kind, ber.octets(explicit[0], limit)
