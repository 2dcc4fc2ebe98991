"""A stacked bar chart as a PNG, in pure Python (zlib and a 5×7 bitmap font).

The digest needs one small chart a week. matplotlib would add tens of megabytes (and numpy) to every install for
it, Pillow a native wheel; a PNG of flat bars is a few dozen lines: an RGB canvas, rectangles, a tiny font, and
the three chunks of the PNG format. The output is deterministic, so a test can read the pixels back.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
INK: Color = (40, 42, 48)
GRID: Color = (225, 227, 232)

# 5×7 glyphs, one string of five bits per row. Letters are drawn in capitals.
_FONT: dict[str, tuple[str, ...]] = {
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "B": ("11110", "10001", "10001", "11110", "10001", "10001", "11110"),
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11100", "10010", "10001", "10001", "10001", "10010", "11100"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "F": ("11111", "10000", "10000", "11110", "10000", "10000", "10000"),
    "G": ("01110", "10001", "10000", "10111", "10001", "10001", "01111"),
    "H": ("10001", "10001", "10001", "11111", "10001", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "J": ("00111", "00010", "00010", "00010", "00010", "10010", "01100"),
    "K": ("10001", "10010", "10100", "11000", "10100", "10010", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "N": ("10001", "10001", "11001", "10101", "10011", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "P": ("11110", "10001", "10001", "11110", "10000", "10000", "10000"),
    "Q": ("01110", "10001", "10001", "10001", "10101", "10010", "01101"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
    "V": ("10001", "10001", "10001", "10001", "10001", "01010", "00100"),
    "W": ("10001", "10001", "10001", "10101", "10101", "10101", "01010"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "Y": ("10001", "10001", "10001", "01010", "00100", "00100", "00100"),
    "Z": ("11111", "00001", "00010", "00100", "01000", "10000", "11111"),
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    "/": ("00001", "00010", "00010", "00100", "01000", "01000", "10000"),
    ":": ("00000", "01100", "01100", "00000", "01100", "01100", "00000"),
    ".": ("00000", "00000", "00000", "00000", "00000", "01100", "01100"),
    "(": ("00010", "00100", "01000", "01000", "01000", "00100", "00010"),
    ")": ("01000", "00100", "00010", "00010", "00010", "00100", "01000"),
    " ": ("00000",) * 7,
}
_UNKNOWN = ("11111", "10001", "10001", "10001", "10001", "10001", "11111")


@dataclass(frozen=True)
class Series:
    label: str
    color: Color
    values: Sequence[int]  # one per bar


class Canvas:
    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width = width
        self.height = height
        self._pixels = bytearray(bytes(background) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, color: Color) -> None:
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        row = bytes(color) * (x1 - x0)
        for yy in range(y0, y1):
            start = (yy * self.width + x0) * 3
            self._pixels[start : start + len(row)] = row

    def text(self, x: int, y: int, words: str, color: Color = INK, scale: int = 2) -> int:
        """Draw `words` with its top-left corner at (x, y); returns the width drawn."""
        cursor = x
        for char in words.upper():
            glyph = _FONT.get(char, _UNKNOWN)
            for row, bits in enumerate(glyph):
                for column, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(cursor + column * scale, y + row * scale, scale, scale, color)
            cursor += 6 * scale
        return cursor - x

    @staticmethod
    def text_width(words: str, scale: int = 2) -> int:
        return len(words) * 6 * scale

    def pixel(self, x: int, y: int) -> Color:
        start = (y * self.width + x) * 3
        r, g, b = self._pixels[start : start + 3]
        return (r, g, b)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = bytearray()
        for y in range(self.height):
            raw.append(0)  # filter type 0 (None) for every scanline
            raw += self._pixels[y * stride : (y + 1) * stride]
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (
            b"\x89PNG\r\n\x1a\n"
            + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + _chunk(b"IEND", b"")
        )


def stacked_bars_png(
    title: str, labels: Sequence[str], series: Sequence[Series], *, width: int = 720, height: int = 360
) -> bytes:
    """Bars for `labels` (e.g. days), each stacked from `series` bottom-up, with a legend and a y scale."""
    canvas = Canvas(width, height)
    canvas.text(16, 12, title, scale=2)
    # Legend on the second line.
    x = 16
    for item in series:
        canvas.rect(x, 38, 12, 12, item.color)
        x += 18 + canvas.text(x + 18, 38, item.label, scale=2) + 18
    left, right, top, bottom = 56, width - 16, 66, height - 34
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0)
    step = _nice_step(peak)
    top_value = max(step * ((peak + step - 1) // step), step)
    plot_height = bottom - top
    for tick in range(0, top_value + 1, step):
        y = bottom - round(tick * plot_height / top_value)
        canvas.rect(left, y, right - left, 1, GRID)
        number = str(tick)
        canvas.text(left - 8 - canvas.text_width(number), y - 7, number, scale=2)
    slot = (right - left) / max(len(labels), 1)
    bar_width = max(int(slot * 0.6), 1)
    for index, label in enumerate(labels):
        x0 = int(left + slot * index + (slot - bar_width) / 2)
        y = bottom
        for item in series:
            value = item.values[index]
            if value <= 0:
                continue
            h = max(round(value * plot_height / top_value), 1)
            canvas.rect(x0, y - h, bar_width, h, item.color)
            y -= h
        label_x = int(left + slot * index + (slot - canvas.text_width(label)) / 2)
        canvas.text(label_x, bottom + 10, label, scale=2)
    canvas.rect(left, bottom, right - left, 2, INK)
    return canvas.png()


def read_png(data: bytes) -> Canvas:
    """The inverse of Canvas.png for what it writes (8-bit RGB, filter 0): lets tests look at the pixels."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    position, width, height, idat = 8, 0, 0, b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if (
            zlib.crc32(kind + body)
            != struct.unpack(">I", data[position + 8 + length : position + 12 + length])[0]
        ):
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            width, height, depth, color_type = struct.unpack(">IIBB", body[:10])
            if (depth, color_type) != (8, 2):
                raise ValueError("only 8-bit RGB is read")
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    raw = zlib.decompress(idat)
    canvas = Canvas(width, height)
    stride = width * 3
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        if line[0] != 0:
            raise ValueError("only filter type 0 is read")
        canvas._pixels[y * stride : (y + 1) * stride] = line[1:]
    return canvas


def _nice_step(peak: int) -> int:
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if peak / step <= 5:
            return step
    return max(peak // 5, 1)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )
