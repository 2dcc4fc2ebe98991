"""atheris (libFuzzer) target for the email parser, run by hand: `make fuzz`.

Whatever bytes come in, `bot.email.parsing.read_report` must return a bounded, storable ReportedMessage and the
original's bytes, or raise ParseError. Anything else is a finding: another exception, a broken bound, or an
exception the parser swallowed into a flag ("a MIME part could not be read (TypeError)") -- that one is a bug
the parser survived, and hostile input shouldn't reach it. Deep nesting (RecursionError) is an expected outcome.

    make fuzz                          # 60 s, seeded from the sample emails; FUZZ_SECONDS=600 make fuzz
    .venv/bin/python fuzz/parse_message.py .fuzz/corpus tests/fixtures/emails -dict=fuzz/mime.dict -runs=1000
    .venv/bin/python fuzz/parse_message.py .fuzz/crash-<sha1>     # replay one finding

Arguments after the script are libFuzzer's (corpus directories, -max_total_time, -max_len, -dict, ...).
"""

from __future__ import annotations

import json
import re
import sys

import atheris

# The parser's own modules and the stdlib code it drives (feed parser, header and address parsing, HTML,
# codecs glue) are instrumented for coverage.
with atheris.instrument_imports(include=["bot", "email", "html", "_markupbase", "extract_msg", "olefile"]):
    from bot.domain import ReportedMessage
    from bot.email import ParseError, read_report
    from bot.email.analysis import analysis

SWALLOWED = re.compile(r"could not be read \((?!RecursionError)(\w+)\)")


class SwallowedException(Exception):
    """The parser caught an exception of its own and carried on; the input that caused it is a finding."""


def test_one_input(data: bytes) -> None:
    try:
        message, original = read_report(data)
    except ParseError as error:
        assert str(error) and error.reason in {"empty", "too_large", "not_email", "msg_unreadable"}
        return
    assert isinstance(message, ReportedMessage) and isinstance(original, bytes) and original
    assert message.size == len(data)
    depth = 0
    node: ReportedMessage | None = message
    while node is not None:
        assert len(node.urls) <= 500 and len(node.flags) <= 40 and len(node.attachments) <= 200
        assert len(node.authentication) <= 60 and len(node.subject) <= 2000
        for flag in node.flags:
            if SWALLOWED.search(flag):
                raise SwallowedException(flag)
        node, depth = node.inner, depth + 1
    assert depth <= 4
    stored = json.dumps(analysis(message), ensure_ascii=False).encode("utf-8")
    assert b"\x00" not in stored and b"\\u0000" not in stored
    json.dumps(message.to_dict(), ensure_ascii=False)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
