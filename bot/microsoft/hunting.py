"""Advanced hunting: the KQL phishbot sends to `POST /security/runHuntingQuery` and how it reads the rows.

Every value placed in a query — an Internet-Message-ID, a sender, a subject, a URL — was written by whoever
sent the phish. It reaches KQL only through `kql_string`, the one escaping function; the query shapes below
are fixed text around those literals. No I/O here.

Tables and columns: Microsoft Defender XDR advanced hunting schema (EmailEvents, EmailUrlInfo, UrlClickEvents;
MicrosoftDocs/defender-docs defender-xdr/advanced-hunting-*-table.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Advanced hunting keeps 30 days of data; the campaign look-back is shorter so a common subject or a popular
# link from last month does not sweep unrelated mail into a purge.
LOOKBACK_DAYS = 30
CAMPAIGN_LOOKBACK_DAYS = 7
MAX_ROWS = 100_000  # the most rows advanced hunting returns for one query
MAX_CLICK_ROWS = 10_000
MAX_VALUE_CHARS = 4000  # longer than any real header value; bounds the query text
MAX_URLS = 50
IDS_PER_QUERY = 200  # NetworkMessageIds per verification query: keeps each query text small

# The characters KQL string literals can carry with a documented escape ("The string data type", Kusto docs:
# "Use the backslash character to escape the enclosing quote characters, tab characters (\t), newline characters
# (\n), and the backslash itself (\\)"). Other control characters have no documented escape.
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t"}
_UNESCAPABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# Latest delivery locations (EmailEvents.LatestDeliveryLocation / DeliveryLocation) where no copy sits in a
# cloud mailbox: nothing there for a purge to act on (remediation doc: "Not actionable").
NOT_IN_A_MAILBOX = frozenset({"quarantine", "failed", "dropped", "on-premises/external", "blocked"})
INBOX = "inbox/folder"
JUNK = "junk folder"


class KqlValueError(ValueError):
    """A value that cannot be written as a KQL string literal (a control character with no escape)."""


def kql_string(value: str) -> str:
    """`value` as one double-quoted KQL string literal. The only way attacker text enters a query."""
    text = str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise KqlValueError(
            f"the value is {len(text)} characters long; at most {MAX_VALUE_CHARS} are looked up"
        )
    if _UNESCAPABLE.search(text):
        raise KqlValueError("the value holds control characters that cannot be looked up")
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'


def bracketed(internet_message_id: str) -> str:
    """The Internet-Message-ID as Microsoft stores it: in angle brackets (the parser keeps it without)."""
    return "<" + internet_message_id.strip().strip("<>") + ">"


def _kql_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(kql_string(v) for v in values) + ")"


# --- finding the copies ---------------------------------------------------------------------------------------

_COPY_COLUMNS = (
    "NetworkMessageId, RecipientEmailAddress, InternetMessageId, SenderFromAddress, Subject, "
    "DeliveryLocation, LatestDeliveryLocation"
)


def copies_query(internet_message_id: str, *, campaign: bool, sender: str = "", subject: str = "") -> str:
    """Every (NetworkMessageId, recipient) pair of the reported message (its Internet-Message-ID with or without
    the angle brackets); with `campaign`, also messages from
    the same sender with the same subject, or sharing a URL with it (EmailUrlInfo), in the campaign look-back."""
    message = kql_string(bracketed(internet_message_id))
    if not campaign:
        return "\n".join(
            [
                "EmailEvents",
                f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
                f"| where InternetMessageId == {message}",
                f"| project {_COPY_COLUMNS}",
                f"| take {MAX_ROWS}",
            ]
        )
    related = "NetworkMessageId in (sharingUrls)"
    if sender.strip() and subject.strip():
        related = (
            f"{related} or (SenderFromAddress =~ {kql_string(sender.strip())} "
            f"and Subject == {kql_string(subject)})"
        )
    return "\n".join(
        [
            "let reported = EmailEvents",
            f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
            f"| where InternetMessageId == {message}",
            "| distinct NetworkMessageId;",
            "let reportedUrls = EmailUrlInfo",
            f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
            "| where NetworkMessageId in (reported)",
            "| distinct Url;",
            "let sharingUrls = EmailUrlInfo",
            f"| where Timestamp > ago({CAMPAIGN_LOOKBACK_DAYS}d)",
            "| where Url in (reportedUrls)",
            "| distinct NetworkMessageId;",
            "EmailEvents",
            f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
            f"| where InternetMessageId == {message} or (Timestamp > ago({CAMPAIGN_LOOKBACK_DAYS}d) and ({related}))",
            f"| project {_COPY_COLUMNS}",
            f"| take {MAX_ROWS}",
        ]
    )


def locations_queries(network_message_ids: Iterable[str]) -> list[str]:
    """Queries reading the latest delivery location of every copy of these messages (verification)."""
    ids = sorted({i for i in network_message_ids if i})
    return [
        "\n".join(
            [
                "EmailEvents",
                f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
                f"| where NetworkMessageId in {_kql_list(ids[start : start + IDS_PER_QUERY])}",
                "| project NetworkMessageId, RecipientEmailAddress, DeliveryLocation, LatestDeliveryLocation",
                f"| take {MAX_ROWS}",
            ]
        )
        for start in range(0, len(ids), IDS_PER_QUERY)
    ]


def clicks_query(internet_message_id: str | None, urls: Sequence[str]) -> str:
    """Safe Links clicks (UrlClickEvents) on the reported message's copies or on its URLs."""
    urls = [u for u in dict.fromkeys(urls) if u][:MAX_URLS]
    conditions = []
    lines = []
    if internet_message_id:
        lines += [
            "let reported = EmailEvents",
            f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
            f"| where InternetMessageId == {kql_string(bracketed(internet_message_id))}",
            "| distinct NetworkMessageId;",
        ]
        conditions.append("NetworkMessageId in (reported)")
    if urls:
        conditions.append(f"Url in {_kql_list(urls)}")
    if not conditions:
        raise KqlValueError("nothing to look for: no Internet-Message-ID and no URL")
    lines += [
        "UrlClickEvents",
        f"| where Timestamp > ago({LOOKBACK_DAYS}d)",
        f"| where {' or '.join(conditions)}",
        "| project Timestamp, AccountUpn, Url, ActionType, IsClickedThrough, Workload, IPAddress, NetworkMessageId",
        f"| take {MAX_CLICK_ROWS}",
    ]
    return "\n".join(lines)


# --- reading rows ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Copy:
    """One delivered copy of a message: what Defender's remediate needs, and where it is now."""

    network_message_id: str
    recipient: str
    internet_message_id: str
    location: str  # latest delivery location as Microsoft words it ("Inbox/folder", "Junk folder", ...)
    sender: str = ""
    subject: str = ""

    @property
    def in_a_mailbox(self) -> bool:
        return self.location.strip().lower() not in NOT_IN_A_MAILBOX


@dataclass(frozen=True)
class Click:
    at: datetime | None
    user: str  # AccountUpn
    url: str
    action_type: str  # ClickAllowed, ClickBlocked, ...
    clicked_through: bool
    workload: str
    network_message_id: str


def _column(row: Mapping[str, Any], name: str) -> Any:
    # Column names come back as the schema spells them; tolerate any case.
    if name in row:
        return row[name]
    lowered = name.lower()
    return next((value for key, value in row.items() if str(key).lower() == lowered), None)


def _text(row: Mapping[str, Any], name: str, limit: int = 1000) -> str:
    value = _column(row, name)
    return str(value)[:limit] if value is not None else ""


def location_of(row: Mapping[str, Any]) -> str:
    return _text(row, "LatestDeliveryLocation", 64) or _text(row, "DeliveryLocation", 64)


def copies_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Copy]:
    """One Copy per (NetworkMessageId, recipient), in the order Microsoft gave them; rows without either skipped."""
    seen: dict[tuple[str, str], Copy] = {}
    for row in rows:
        network_message_id = _text(row, "NetworkMessageId", 64).strip()
        recipient = _text(row, "RecipientEmailAddress", 320).strip()
        if not network_message_id or not recipient:
            continue
        key = (network_message_id.lower(), recipient.lower())
        if key in seen:
            continue
        seen[key] = Copy(
            network_message_id=network_message_id,
            recipient=recipient,
            internet_message_id=_text(row, "InternetMessageId", MAX_VALUE_CHARS),
            location=location_of(row),
            sender=_text(row, "SenderFromAddress", 320),
            subject=_text(row, "Subject", 500),
        )
    return list(seen.values())


def locations_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(NetworkMessageId, recipient) in lower case -> latest delivery location."""
    found: dict[tuple[str, str], str] = {}
    for row in rows:
        key = (
            _text(row, "NetworkMessageId", 64).strip().lower(),
            _text(row, "RecipientEmailAddress", 320).strip().lower(),
        )
        if all(key):
            found[key] = location_of(row)
    return found


def is_done(action: str, location: str) -> bool:
    """Whether a copy's latest delivery location shows `action` took effect.

    Microsoft does not document which LatestDeliveryLocation a soft or hard delete leaves behind, so for the
    delete actions anything outside the Inbox and Junk counts as removed, and an unknown location does not.
    """
    where = location.strip().lower()
    if action == "moveToInbox":
        return where == INBOX
    if action == "moveToJunk":
        return where == JUNK
    return bool(where) and where not in {INBOX, JUNK, "unknown"}


def clicks_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[Click]:
    clicks = []
    for row in rows:
        clicked = _column(row, "IsClickedThrough")
        clicks.append(
            Click(
                at=_timestamp(_column(row, "Timestamp")),
                user=_text(row, "AccountUpn", 320),
                url=_text(row, "Url", 2000),
                action_type=_text(row, "ActionType", 64),
                clicked_through=clicked is True or str(clicked).strip().lower() in {"true", "1"},
                workload=_text(row, "Workload", 32),
                network_message_id=_text(row, "NetworkMessageId", 64),
            )
        )
    return sorted(clicks, key=lambda c: c.at or datetime.min.replace(tzinfo=UTC))


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    # Hunting writes seven fractional digits; Python reads at most six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
