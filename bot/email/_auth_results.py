"""Authentication-Results headers (RFC 8601, and Microsoft's variant without an authserv-id) read into
`AuthResult`s.

A tokenizer, not a regex over the header: comments nest, quoted strings escape, and the attacker writes both.
"""

from __future__ import annotations

import re

from bot.domain import AuthResult
from bot.email._limits import MAX_AUTH_TEXT_CHARS
from bot.email._text import clean

_AR_TOKEN = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<semi>;)
    | (?P<eq>=)
    | (?P<quoted>"(?:[^"\\]|\\.)*"?)
    | (?P<comment>\()
    | (?P<word>[^\s;="()]+)
    | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_COMMENT_SPECIAL = re.compile(r"[()\\]")


def parse_authentication_results(text: str) -> tuple[str, list[AuthResult]]:
    """(authserv-id, the method results) of one header; the id is "" in Microsoft's form."""
    segments = _authentication_segments(text)
    if not segments:
        return "", []
    authserv_id = ""
    first = segments[0]
    if _is_method_result(first):
        start = 0  # Exchange Online writes "spf=pass (...) smtp.mailfrom=...; dkim=..." with no authserv-id
    else:
        words = [value for kind, value in first if kind in ("word", "quoted")]
        authserv_id = words[0][:MAX_AUTH_TEXT_CHARS] if words else ""
        start = 1
    results = []
    for segment in segments[start:]:
        result = _method_result(segment, authserv_id)
        if result is not None:
            results.append(result)
    return clean(authserv_id), results


def _authentication_segments(text: str) -> list[list[tuple[str, str]]]:
    """Tokens (word, quoted, eq, comment) of each ';'-separated piece; whitespace dropped."""
    segments: list[list[tuple[str, str]]] = [[]]
    position = 0
    length = len(text)
    while position < length:
        match = _AR_TOKEN.match(text, position)
        if match is None:  # unreachable: the last alternative matches any character
            break
        kind = match.lastgroup or "other"
        if kind == "comment":
            end = _comment_end(text, match.start())
            segments[-1].append(
                ("comment", text[match.start() + 1 : end - 1 if text[end - 1 : end] == ")" else end])
            )
            position = end
            continue
        position = match.end()
        if kind == "semi":
            segments.append([])
        elif kind == "quoted":
            value = match.group()[1:]
            value = value[:-1] if value.endswith('"') else value
            segments[-1].append(("quoted", re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)))
        elif kind in ("word", "eq"):
            segments[-1].append((kind, match.group()))
    return [segment for segment in segments if segment]


def _comment_end(text: str, start: int) -> int:
    """Index just past the comment opening at `start` (comments nest; a backslash quotes one character)."""
    depth = 0
    position = start
    while True:
        match = _COMMENT_SPECIAL.search(text, position)
        if match is None:
            return len(text)
        char = match.group()
        position = match.end()
        if char == "\\":
            position += 1
        elif char == "(":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return position


def _is_method_result(segment: list[tuple[str, str]]) -> bool:
    tokens = [token for token in segment if token[0] != "comment"]
    return (
        len(tokens) >= 3
        and tokens[0][0] == "word"
        and tokens[1][0] == "eq"
        and tokens[2][0] in ("word", "quoted")
    )


def _method_result(segment: list[tuple[str, str]], authserv_id: str) -> AuthResult | None:
    if not _is_method_result(segment):
        return None  # "none", a stray domain (Exchange writes "; contoso.com;"), or garbage
    tokens = [token for token in segment if token[0] != "comment"]
    method = tokens[0][1].split("/", 1)[0].strip().lower()[:64]
    result = tokens[2][1].strip().lower()[:64]
    reason = ""
    comment = ""
    index = 3
    while index < len(tokens):
        if index + 2 < len(tokens) and tokens[index][0] == "word" and tokens[index + 1][0] == "eq":
            if tokens[index][1].lower() == "reason" and tokens[index + 2][0] in ("word", "quoted"):
                reason = tokens[index + 2][1]
            index += 3
        else:
            index += 1
    for kind, value in segment:
        if kind == "comment":
            comment = value
            break
    # No reason= property: the comment after the result is the verifier's explanation ("message not signed").
    explanation = " ".join((reason or comment).split())
    return AuthResult(
        method=clean(method),
        result=clean(result),
        reason=clean(explanation)[:MAX_AUTH_TEXT_CHARS],
        authserv_id=clean(authserv_id),
    )
