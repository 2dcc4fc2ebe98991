"""Reported email: bytes (.eml, .msg, a forward) in, one ReportedMessage out.

What the other layers use is exported here; the modules starting with "_" are the parser's insides.
`bot.email.analysis` (the `phishbot parse` command) is imported by its own name: it renders links with
bot.slack.safe_text, and reading an email must not pull in the Slack side.
"""

from bot.email.forwards import ForwardedOriginal, find_forwarded_original, parse_forward_date
from bot.email.outlook_msg import MsgError, is_outlook_msg, msg_to_mime
from bot.email.parsing import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DEPTH,
    ParseError,
    looks_like_email,
    original_message_bytes,
    parse_message,
    read_report,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "ForwardedOriginal",
    "MsgError",
    "ParseError",
    "find_forwarded_original",
    "is_outlook_msg",
    "looks_like_email",
    "msg_to_mime",
    "original_message_bytes",
    "parse_forward_date",
    "parse_message",
    "read_report",
]
