"""Parser throughput and memory, beside the standard library's email parser, in the same run.

    python -m bench.parse [--seconds 1.0]

1. Throughput (messages per second) on every sample email (tests/fixtures/emails and bot/sandbox/samples):
   `bot.parsing.parse_message` (headers, authentication, URLs from text and HTML, attachments with hashes,
   the wrapped original) against the stdlib, both as a bare parse (`email.message_from_bytes`, compat32,
   which ours builds on) and as a parse that decodes every part (`policy.default` + `get_content()`; the
   closest stdlib equivalent of what ours reads).
2. Peak memory (tracemalloc: Python allocations, the input itself not counted) while reading one 25 MB
   message: an HTML part full of links and a ~24 MB base64 attachment.

Ratios are ours / stdlib: above 1 means phishbot's parser is slower or uses more memory.
"""

from __future__ import annotations

import argparse
import base64
import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from email import message_from_bytes, policy
from pathlib import Path

from bot.parsing import parse_message

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "tests" / "fixtures" / "emails", ROOT / "bot" / "sandbox" / "samples"]
MB = 1024 * 1024


def samples() -> list[tuple[str, bytes]]:
    found = []
    for folder in SOURCES:
        found.extend((path.name, path.read_bytes()) for path in sorted(folder.glob("*.eml")))
    return found


def stdlib_parse(raw: bytes) -> object:
    return message_from_bytes(raw)


def stdlib_decode(raw: bytes) -> object:
    message = message_from_bytes(raw, policy=policy.default)
    for part in message.walk():
        if not part.is_multipart():
            try:
                part.get_content()
            except (LookupError, ValueError, KeyError):
                part.get_payload(decode=True)
    for name in ("From", "To", "Subject", "Date", "Message-ID", "Reply-To"):
        message.get(name)
    return message


def ours(raw: bytes) -> object:
    return parse_message(raw)


PARSERS: dict[str, Callable[[bytes], object]] = {
    "phishbot parse_message": ours,
    "stdlib message_from_bytes (compat32)": stdlib_parse,
    "stdlib policy.default + get_content": stdlib_decode,
}


def throughput(parse: Callable[[bytes], object], corpus: list[bytes], seconds: float) -> float:
    """Messages per second over the whole corpus, the median of five rounds."""
    rates = []
    for _ in range(5):
        count = 0
        started = time.perf_counter()
        deadline = started + seconds / 5
        while time.perf_counter() < deadline:
            for raw in corpus:
                parse(raw)
            count += len(corpus)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def big_message(size: int = 25 * MB) -> bytes:
    links = "".join(f'<p><a href="https://l{i}.evil.example/p?i={i}">link {i}</a></p>\n' for i in range(400))
    html = f"<html><body>{links}</body></html>".encode()
    head = (
        b"From: Big Sender <big@evil.example>\r\nTo: alice@contoso.example\r\nSubject: 25 MB\r\n"
        b"Message-ID: <big@evil.example>\r\nDate: Mon, 24 Nov 2026 09:14:00 +0000\r\n"
        b"Authentication-Results: spf=fail smtp.mailfrom=evil.example; dmarc=fail\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + b"\r\n"
        b'--B\r\nContent-Type: application/octet-stream; name="payload.bin"\r\n'
        b'Content-Disposition: attachment; filename="payload.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    )
    tail = b"\r\n--B--\r\n"
    room = size - len(head) - len(tail)
    binary = os.urandom(room * 57 // 78)
    encoded = base64.encodebytes(binary).replace(b"\n", b"\r\n")[:room]
    return head + encoded + tail


def peak_memory(parse: Callable[[bytes], object], raw: bytes) -> tuple[int, float]:
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    result = parse(raw)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del result
    gc.collect()
    return peak, elapsed


def main(argv: list[str] | None = None) -> int:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--seconds", type=float, default=2.0, help="time per parser for throughput")
    options = arguments.parse_args(argv)

    corpus = samples()
    raws = [raw for _, raw in corpus]
    sizes = sorted(len(raw) for raw in raws)
    print(
        f"Throughput: {len(raws)} sample emails, {min(sizes) // 1024}-{max(sizes) // 1024} KB "
        f"(median {statistics.median(sizes) / 1024:.0f} KB), {options.seconds:g} s per parser"
    )
    rates = {name: throughput(parse, raws, options.seconds) for name, parse in PARSERS.items()}
    base = rates["phishbot parse_message"]
    print(f"{'parser':<40}{'msgs/s':>12}{'ms/msg':>10}{'ours / this':>14}")
    for name, rate in rates.items():
        print(f"{name:<40}{rate:>12,.0f}{1000 / rate:>10.2f}{rate / base:>13.2f}x")
    print("(ours / this: how many times longer phishbot's parser takes than this one)")

    raw = big_message()
    print(f"\nPeak memory while reading one {len(raw) / MB:.1f} MB message (tracemalloc, input not counted)")
    print(f"{'parser':<40}{'peak MB':>10}{'x input':>9}{'seconds':>9}{'ours / this':>14}")
    peaks = {name: peak_memory(parse, raw) for name, parse in PARSERS.items()}
    our_peak = peaks["phishbot parse_message"][0]
    for name, (peak, elapsed) in peaks.items():
        print(f"{name:<40}{peak / MB:>10.1f}{peak / len(raw):>9.2f}{elapsed:>9.2f}{our_peak / peak:>13.2f}x")
    stdlib = peaks["stdlib message_from_bytes (compat32)"][0]
    print(
        f"\nsummary: phishbot parses {base:,.0f} msgs/s ({rates['stdlib message_from_bytes (compat32)'] / base:.1f}x "
        f"the time of a bare stdlib parse, {rates['stdlib policy.default + get_content'] / base:.1f}x of a decoding "
        f"one); a 25 MB message peaks at {our_peak / MB:.0f} MB ({our_peak / stdlib:.2f}x the bare stdlib parse)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
