"""An inline forward's header block: who sent the original, its subject and when, read from the forward's text.

Forwarding inline loses the original's headers; what survives is the block the mail client writes above the
quoted message. The common forms, in English and Dutch:

    Outlook        From: / Van:   Sent: / Verzonden:   To: / Aan:   Subject: / Onderwerp:
                   (often under a line of underscores, or "-----Original Message-----")
    Gmail          ---------- Forwarded message --------- / ---------- Doorgestuurd bericht ---------
                   From: / Van:   Date: / Datum:   Subject: / Onderwerp:   To: / Aan:
    Apple Mail     Begin forwarded message: / Begin doorgestuurd bericht:
                   From: / Van:   Subject: / Onderwerp:   Date: / Datum:   To: / Aan:

The time is written in the forwarder's locale and usually without a time zone, so `sent_at` is naive unless a
zone was given; whoever searches for the original allows a day either way. Everything here is attacker text
(the phish's own sender and subject): it is bounded, and only ever compared or quoted, never followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parseaddr, parsedate_to_datetime

_MAX_TEXT = 64 * 1024
_MAX_LINES = 2_000
_MAX_BLOCK_LINES = 12  # a header block is a handful of lines; a label further down is quoted text
_MAX_FIELD = 998

_LABELS = {
    "from": "from",
    "van": "from",
    "sent": "date",
    "verzonden": "date",
    "date": "date",
    "datum": "date",
    "subject": "subject",
    "onderwerp": "subject",
    "to": "to",
    "aan": "to",
    "cc": "cc",
}
_LABEL_LINE = re.compile(
    r"^[ \t>]*[*_]{0,2}(?P<label>from|van|sent|verzonden|date|datum|subject|onderwerp|to|aan|cc)"
    r"[*_]{0,2}[ \t]*:[*_]{0,2}[ \t]*(?P<value>.*)$",
    re.IGNORECASE,
)
_MARKERS = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:forwarded message|doorgestuurd bericht|original message|oorspronkelijk bericht)"
    r"\s*-{2,}|begin (?:forwarded message|doorgestuurd bericht)\s*:|_{10,}|-{10,})\s*$",
    re.IGNORECASE,
)

_MONTHS = {
    "january": 1, "jan": 1, "januari": 1,
    "february": 2, "feb": 2, "februari": 2,
    "march": 3, "mar": 3, "maart": 3, "mrt": 3,
    "april": 4, "apr": 4,
    "may": 5, "mei": 5,
    "june": 6, "jun": 6, "juni": 6,
    "july": 7, "jul": 7, "juli": 7,
    "august": 8, "aug": 8, "augustus": 8,
    "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10, "oktober": 10, "okt": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12,
}  # fmt: skip
_ZONES = {"utc": 0, "gmt": 0, "z": 0, "wet": 0, "west": 60, "cet": 60, "cest": 120, "bst": 60,
          "est": -300, "edt": -240, "cst": -360, "cdt": -300, "mst": -420, "mdt": -360,
          "pst": -480, "pdt": -420}  # fmt: skip
_WORD = re.compile(r"[A-Za-z]+\.?|\d+|[+-]\d{2}:?\d{2}")
_TIME = re.compile(r"(?<!\d)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?!\d)\s*([ap]\.?\s?m\.?)?", re.IGNORECASE)
_OFFSET = re.compile(r"(?:\b(?:gmt|utc)\s*)?([+-])(\d{1,2})(?::?(\d{2}))?\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_DMY_DATE = re.compile(r"\b(\d{1,2})-(\d{1,2})-(\d{4})\b")
_RFC5322_DATE = re.compile(
    r"^(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s+(?:[+-]\d{4}|GMT|UT|UTC)\b"
)
_MAILTO = re.compile(r"\[mailto:([^\]\s]+)\]", re.IGNORECASE)
_SLACK_MAILTO = re.compile(r"<mailto:([^|>\s]+)(?:\|[^>]*)?>", re.IGNORECASE)


@dataclass(frozen=True)
class ForwardedOriginal:
    """What a forward's header block says about the message it forwards."""

    sender_name: str = ""
    sender_address: str = ""
    subject: str = ""
    sent_text: str = ""  # the date as written
    sent_at: datetime | None = None  # aware when the block named a zone, else naive local time

    @property
    def searchable(self) -> bool:
        return bool(self.subject or self.sender_address) and self.sent_at is not None

    def window(self, slack: timedelta = timedelta(days=1)) -> tuple[datetime, datetime] | None:
        """The UTC interval the original was received in: ±`slack` around a naive time (any zone),
        a few hours around an aware one (delivery delay, a wrong clock)."""
        if self.sent_at is None:
            return None
        if self.sent_at.tzinfo is None:
            moment = self.sent_at.replace(tzinfo=UTC)
            return moment - slack, moment + slack
        moment = self.sent_at.astimezone(UTC)
        return moment - timedelta(hours=2), moment + timedelta(hours=6)


def find_forwarded_original(text: str) -> ForwardedOriginal | None:
    """The first forward header block in `text` (a forward's plain text), or None when there is none."""
    lines = text[:_MAX_TEXT].splitlines()[:_MAX_LINES]
    for start, line in enumerate(lines):
        marker = bool(_MARKERS.match(line))
        match = _LABEL_LINE.match(line)
        if not marker and not (match and _LABELS[match.group("label").lower()] == "from"):
            continue
        fields = _read_block(lines, start + 1 if marker else start)
        if "from" in fields and ("subject" in fields or "date" in fields):
            return _original(fields)
    return None


def _read_block(lines: list[str], start: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    seen_label = False
    for line in lines[start : start + _MAX_BLOCK_LINES]:
        if not line.strip().strip(">").strip():
            if seen_label:
                break
            continue  # Apple Mail leaves a blank line after "Begin forwarded message:"
        match = _LABEL_LINE.match(line)
        if match is None:
            if seen_label:
                continue  # a long To: or Cc: wrapped onto the next line
            break
        seen_label = True
        key = _LABELS[match.group("label").lower()]
        fields.setdefault(key, match.group("value").strip().strip("*_").strip()[:_MAX_FIELD])
    return fields


def _original(fields: dict[str, str]) -> ForwardedOriginal:
    name, address = _sender(fields.get("from", ""))
    date_text = fields.get("date", "")
    return ForwardedOriginal(
        sender_name=name,
        sender_address=address,
        subject=fields.get("subject", ""),
        sent_text=date_text,
        sent_at=parse_forward_date(date_text),
    )


def _sender(value: str) -> tuple[str, str]:
    value = _SLACK_MAILTO.sub(lambda m: f"<{m.group(1)}>", value)
    value = _MAILTO.sub(lambda m: f"<{m.group(1)}>", value)
    try:
        name, address = parseaddr(value[:_MAX_FIELD])
    except Exception:  # noqa: BLE001 - the stdlib address parser on attacker text
        name, address = "", ""
    if "@" not in address:
        return value.strip().strip('"'), ""
    return name.strip(), address.strip().lower()


def parse_forward_date(text: str) -> datetime | None:
    """A date as mail clients write it in a forward, in English or Dutch; None when it cannot be read."""
    text = text.strip()[:200]
    if not text:
        return None
    if _RFC5322_DATE.match(text):  # as some clients copy the Date header (the stdlib parser is too lenient
        try:  # for anything else: it reads "9:14 PM" as 09:14)
            return parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            pass
    year = month = day = None
    iso = _ISO_DATE.search(text) or None
    dmy = _DMY_DATE.search(text) if iso is None else None
    if iso:
        year, month, day = int(iso.group(1)), int(iso.group(2)), int(iso.group(3))
    elif dmy:
        day, month, year = int(dmy.group(1)), int(dmy.group(2)), int(dmy.group(3))
    else:
        words = _WORD.findall(text.lower())
        for index, word in enumerate(words):
            number = _MONTHS.get(word.rstrip("."))
            if number is None:
                continue
            month = number
            neighbours = [words[i] for i in (index - 1, index + 1) if 0 <= i < len(words)]
            day = next((int(w) for w in neighbours if w.isdigit() and 1 <= int(w) <= 31), None)
            year = next((int(w) for w in words[index + 1 :] if w.isdigit() and len(w) == 4), None)
            break
    if not (year and month and day):
        return None
    hour = minute = second = 0
    time = _TIME.search(text[iso.end() if iso else dmy.end() if dmy else 0 :])
    if time:
        hour, minute, second = int(time.group(1)), int(time.group(2)), int(time.group(3) or 0)
        meridiem = (time.group(4) or "").lower().replace(".", "").replace(" ", "")
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
    try:
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    zone = _zone(text[time.end() :] if time else "")
    return moment.replace(tzinfo=zone) if zone is not None else moment


def _zone(text: str) -> timezone | None:
    offset = _OFFSET.search(text)
    if offset:
        minutes = int(offset.group(2)) * 60 + int(offset.group(3) or 0)
        if minutes <= 14 * 60:
            return timezone(timedelta(minutes=minutes if offset.group(1) == "+" else -minutes))
    for word in re.findall(r"[A-Za-z]+", text.lower()):
        if word in _ZONES:
            return timezone(timedelta(minutes=_ZONES[word]))
    return None
