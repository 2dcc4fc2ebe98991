"""The headers a report is judged by, read from attacker text: identity (Message-ID, Subject, the
addresses, Date), the receiving organisation's Authentication-Results, and Exchange Online's anti-spam verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from bot.domain import Address, AuthResult
from bot.email._auth_results import parse_authentication_results
from bot.email._limits import (
    MAX_ADDRESS_LIST_CHARS,
    MAX_ADDRESSES,
    MAX_ANTISPAM_VALUE_CHARS,
    MAX_AUTH_HEADER_CHARS,
    MAX_AUTH_HEADERS,
    MAX_AUTH_RESULTS,
    MAX_AUTH_TEXT_CHARS,
    MAX_HEADERS,
    MAX_MESSAGE_ID_CHARS,
    MAX_SINGLE_ADDRESS_CHARS,
    MAX_SUBJECT_CHARS,
    Flags,
)
from bot.email._text import clean, decode_words, raw_text, unstructured

_ANTISPAM_FOREFRONT_KEYS = frozenset({"SCL", "CAT", "SFV", "PTR", "CIP", "IPV"})
_ANTISPAM_MICROSOFT_KEYS = frozenset({"BCL"})

_WANTED_HEADERS = frozenset(
    {
        "message-id",
        "subject",
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "return-path",
        "date",
        "authentication-results",
        "x-forefront-antispam-report",
        "x-microsoft-antispam",
    }
)


@dataclass(frozen=True)
class HeaderFields:
    """What one message's headers say, each field read (or flagged) on its own."""

    message_id: str | None
    subject: str
    from_: tuple[Address, ...]
    sender: Address | None
    reply_to: tuple[Address, ...]
    return_path: str | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    date: str | None
    authentication: tuple[AuthResult, ...]
    antispam: dict[str, str]


def header_fields(message: Message, flags: Flags) -> HeaderFields:
    headers = _wanted_headers(message, flags)
    message_id = _message_id(headers.get("message-id"), flags)
    subject = headers.get("subject")
    subject_text = unstructured(subject[0], "Subject", MAX_SUBJECT_CHARS, flags) if subject else ""
    from_ = _addresses(headers.get("from", [])[:1], "From", MAX_SINGLE_ADDRESS_CHARS, flags)
    if not from_:
        flags.add("no From address")
    sender = _addresses(headers.get("sender", [])[:1], "Sender", MAX_SINGLE_ADDRESS_CHARS, flags)
    reply_to = _addresses(headers.get("reply-to", [])[:1], "Reply-To", MAX_SINGLE_ADDRESS_CHARS, flags)
    to = _addresses(headers.get("to"), "To", MAX_ADDRESS_LIST_CHARS, flags)
    cc = _addresses(headers.get("cc"), "Cc", MAX_ADDRESS_LIST_CHARS, flags)
    return_path = _return_path(headers.get("return-path"), flags)
    date = _date(headers.get("date"), flags)
    authentication = _authentication(headers.get("authentication-results", []), flags)
    return HeaderFields(
        message_id=message_id,
        subject=subject_text,
        from_=from_,
        sender=sender[0] if sender else None,
        reply_to=reply_to,
        return_path=return_path,
        to=to,
        cc=cc,
        date=date,
        authentication=authentication,
        antispam=_antispam(headers, flags),
    )


def _wanted_headers(message: Message, flags: Flags) -> dict[str, list[str]]:
    """The values of the headers read, by lower-case name, in the order they came."""
    headers: dict[str, list[str]] = {}
    items = message.items()
    if len(items) > MAX_HEADERS:
        flags.add(f"more than {MAX_HEADERS:,} header fields: the rest were not read")
        items = items[:MAX_HEADERS]
    for name, value in items:
        key = str(name).strip().lower()
        if key in _WANTED_HEADERS:
            headers.setdefault(key, []).append(value if isinstance(value, str) else str(value))

    for key, label in (
        ("message-id", "Message-ID"),
        ("subject", "Subject"),
        ("from", "From"),
        ("sender", "Sender"),
        ("reply-to", "Reply-To"),
        ("date", "Date"),
    ):
        if len(headers.get(key, ())) > 1:
            flags.add(f"several {label} headers: the first was used")
    return headers


def _message_id(values: list[str] | None, flags: Flags) -> str | None:
    if not values:
        flags.add("no Message-ID header")
        return None
    text = clean(raw_text(values[0], "Message-ID", flags)).strip()
    opening = text.find("<")
    closing = text.find(">", opening + 1)
    if opening >= 0 and closing > opening:
        text = text[opening + 1 : closing]
    text = text.strip().strip("<>").strip()
    if not text:
        flags.add("the Message-ID header is empty")
        return None
    if len(text) > MAX_MESSAGE_ID_CHARS:
        flags.add(f"Message-ID: longer than {MAX_MESSAGE_ID_CHARS} characters, cut")
        text = text[:MAX_MESSAGE_ID_CHARS]
    return text


def _addresses(values: list[str] | None, label: str, limit: int, flags: Flags) -> tuple[Address, ...]:
    if not values:
        return ()
    # Structure first, then decode names: decoding before splitting would let an encoded word smuggle
    # a comma or "<other@address>" into the list.
    text = ", ".join(raw_text(value, label, flags) for value in values)
    if len(text) > limit:
        flags.add(f"{label}: longer than {limit // 1024} KB, cut")
        text = text[:limit]
    try:
        pairs = getaddresses([text])
    except Exception:  # noqa: BLE001 - pure-Python address parser; recursion on '((((' and the like
        flags.add(f"{label}: could not be read")
        return ()
    addresses: list[Address] = []
    for name, address in pairs:
        name = clean(decode_words(name, label, flags)).strip()
        address = clean(address).strip()
        if not name and not address:
            continue
        if len(addresses) >= MAX_ADDRESSES:
            flags.add(f"{label}: more than {MAX_ADDRESSES} addresses, the rest were not kept")
            break
        addresses.append(Address(name=name[:MAX_AUTH_TEXT_CHARS], address=address[:MAX_AUTH_TEXT_CHARS]))
    if not addresses and text.strip():
        flags.add(f"{label}: no address could be read")
    return tuple(addresses)


def _return_path(values: list[str] | None, flags: Flags) -> str | None:
    if not values:
        return None
    text = clean(raw_text(values[0], "Return-Path", flags)).strip()[:MAX_SINGLE_ADDRESS_CHARS]
    try:
        address = parseaddr(text)[1]
    except Exception:  # noqa: BLE001 - pure-Python address parser on attacker text
        address = ""
    address = address or text.strip().strip("<>").strip()
    return address[:MAX_AUTH_TEXT_CHARS] or None


def _date(values: list[str] | None, flags: Flags) -> str | None:
    if not values:
        return None
    text = clean(raw_text(values[0], "Date", flags)).strip()[:200]
    try:
        return parsedate_to_datetime(text).isoformat()
    except (TypeError, ValueError, OverflowError, IndexError):
        flags.add("Date: could not be read")
        return None


def _authentication(values: list[str], flags: Flags) -> tuple[AuthResult, ...]:
    results: list[AuthResult] = []
    receiver_id = ""
    for index, value in enumerate(values[:MAX_AUTH_HEADERS]):
        text = raw_text(value, "Authentication-Results", flags)
        if len(text) > MAX_AUTH_HEADER_CHARS:
            flags.add(f"Authentication-Results: a header over {MAX_AUTH_HEADER_CHARS // 1024} KB was cut")
            text = text[:MAX_AUTH_HEADER_CHARS]
        try:
            authserv_id, parsed = parse_authentication_results(text)
        except Exception:  # noqa: BLE001 - one unreadable header is a flag, the others still count
            flags.add("Authentication-Results: a header could not be read")
            continue
        if index == 0:
            # Headers are prepended on the way in: the topmost is the receiving organisation's.
            receiver_id = authserv_id
        results.extend(
            replace(result, trusted=index == 0 or bool(receiver_id and result.authserv_id == receiver_id))
            for result in parsed
        )
        if len(results) >= MAX_AUTH_RESULTS:
            flags.add(f"Authentication-Results: more than {MAX_AUTH_RESULTS} results, the rest were not kept")
            break
    if len(values) > MAX_AUTH_HEADERS:
        flags.add(f"more than {MAX_AUTH_HEADERS} Authentication-Results headers: the rest were not read")
    return tuple(results[:MAX_AUTH_RESULTS])


def _antispam(headers: dict[str, list[str]], flags: Flags) -> dict[str, str]:
    antispam: dict[str, str] = {}
    for key, label, wanted in (
        ("x-forefront-antispam-report", "X-Forefront-Antispam-Report", _ANTISPAM_FOREFRONT_KEYS),
        ("x-microsoft-antispam", "X-Microsoft-Antispam", _ANTISPAM_MICROSOFT_KEYS),
    ):
        values = headers.get(key)
        if not values:
            continue
        if len(values) > 1:
            # The topmost is the one the receiving organisation's Exchange Online added; lower ones
            # came with the message and may be the sender's own invention.
            flags.add(f"several {label} headers: the topmost was used")
        text = clean(raw_text(values[0], label, flags))
        for item in text.split(";"):
            name, sep, item_value = item.partition(":")
            name = name.strip().upper()
            item_value = item_value.strip()
            if sep and name in wanted and item_value and name not in antispam:
                antispam[name] = item_value[:MAX_ANTISPAM_VALUE_CHARS]
    return antispam
