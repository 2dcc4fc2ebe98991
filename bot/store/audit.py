"""The audit log: every attempt of every responder action (refused ones too) and what the bot did on its own.

An entry's details are named fields (`{"count": 30, "method": "defender"}`), stored as JSON in the `detail`
column, so the digest reads a count by its name. Rows written before that hold free text: `read_details` gives
them back as `{"text": …}`, and `describe` shows either kind as one readable line (`count=30 method=defender`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.store.database import survives_reconnect
from bot.store.models import AuditRow
from bot.store.repository import Repository

# What a detail field may hold: a word, a number, a flag, or a short list of words.
AuditValue = str | int | float | bool | None | Sequence[str]
AuditDetails = Mapping[str, AuditValue]

# The free-text field of a detail: shown bare when it is the only one (a refusal's reason).
REASON = "reason"
# Where an old free-text detail lands when read back.
OLD_TEXT = "text"
# Long attacker-supplied words and long lists are cut, so one entry stays a row, not a document.
_LONGEST_WORD = 1000
_LONGEST_LIST = 50


@dataclass(frozen=True)
class AuditNote:
    """An audit entry written in the same transaction as the change it records (the case comes from the row)."""

    actor: str
    action: str
    outcome: str
    details: AuditDetails = field(default_factory=dict)


class AuditLog(Repository):
    """Written by the services that act; read by `phishbot audit`, the digest and the demo."""

    @survives_reconnect
    def record(
        self,
        actor: str,
        action: str,
        outcome: str,
        *,
        case_id: int | None = None,
        details: AuditDetails | None = None,
    ) -> None:
        with self._session() as session:
            session.add(audit_row(AuditNote(actor, action, outcome, details or {}), case_id, self._now()))

    @survives_reconnect
    def entries(self, case_id: int | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        """Oldest first; each with its `details` (the named fields) and `detail` (them as one readable line)."""
        with self._session() as session:
            query = select(AuditRow).order_by(AuditRow.id)
            if case_id is not None:
                query = query.where(AuditRow.case_id == case_id)
            if since is not None:
                query = query.where(AuditRow.at >= since)
            return [
                {
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "case_id": r.case_id,
                    "outcome": r.outcome,
                    "details": (details := read_details(r.detail)),
                    "detail": describe(details),  # the details as one readable line
                }
                for r in session.scalars(query)
            ]


def audit_row(note: AuditNote, case_id: int | None, now: datetime) -> AuditRow:
    return AuditRow(
        at=now,
        actor=note.actor,
        action=note.action,
        case_id=case_id,
        outcome=note.outcome,
        detail=encode_details(note.details),
    )


def encode_details(details: AuditDetails) -> str:
    """The JSON stored in the `detail` column ("" for none, as before)."""
    if not details:
        return ""
    return json.dumps({key: _bounded(value) for key, value in details.items()}, ensure_ascii=False)


def read_details(stored: str | None) -> dict[str, Any]:
    """The named fields of a stored detail: JSON first; an old free-text detail is `{"text": …}`."""
    text = (stored or "").strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    return {OLD_TEXT: text} if text else {}


def describe(details: Mapping[str, Any]) -> str:
    """One readable line: `key=value` pairs in the order written; a lone reason (or old text) as it is."""
    if len(details) == 1 and (REASON in details or OLD_TEXT in details):
        return str(next(iter(details.values())))
    return " ".join(f"{key}={_word(value)}" for key, value in details.items())


def _word(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def _bounded(value: AuditValue) -> Any:
    if isinstance(value, str):
        return value[:_LONGEST_WORD]
    if isinstance(value, list | tuple):
        return [str(v)[:_LONGEST_WORD] for v in value[:_LONGEST_LIST]]
    return value
