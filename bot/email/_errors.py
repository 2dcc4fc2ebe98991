"""The one error the parser raises: the bytes are not an email at all."""

from __future__ import annotations


class ParseError(Exception):
    """The bytes are not an email at all (empty, binary garbage, over the size bound, a damaged .msg).

    The message is plain English, safe to show a person; it never quotes the input. `reason` names the case
    for a translated message (bot.slack.i18n): "empty", "too_large", "not_email" or "msg_unreadable"; `size`
    and `limit` are the byte counts of a "too_large".
    """

    def __init__(self, message: str, *, reason: str = "not_email", size: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.reason = reason
        self.size = size
        self.limit = limit
