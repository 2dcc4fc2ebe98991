"""The inbox: Slack requests recorded before their ack, then carried out from the record, exactly once.

`take` runs in the request thread, before Slack hears the ack: it must be quick and it must not wait out a long
database outage (Slack gives up after three seconds), so it waits out a restart for TAKE_RECONNECT_SECONDS at
most. What was taken is held by its taker; when the taker dies, its claim is free (its heartbeat stops, or its
lease ends) and the sweep carries the request out instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from bot.store.database import survives_reconnect
from bot.store.models import InboxRow
from bot.store.repository import Repository, changed

# Longer than any one request's work takes (a report: a download, a parse, a few Slack and Graph calls), so a
# live taker keeps what it took; a dead one's claim is free sooner, when its heartbeat stops.
INBOX_LEASE = timedelta(minutes=5)
# Slack waits three seconds for the ack: the record may wait out a database restart for less than that.
TAKE_RECONNECT_SECONDS = 2.0
# Done requests keep their key this long, so Slack's retries of them (minutes apart) are still known.
DONE_KEPT = timedelta(days=1)
MAX_ERROR = 500


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    body: dict
    received_at: datetime
    attempts: int


class Inbox(Repository):
    """Requests taken in, each held by one worker until it is done."""

    def take(self, key: str, kind: str, body: dict) -> InboxItem | None:
        """Record a request, held by this worker; None when its key was recorded before (Slack's retry, a
        replay)."""
        return self.database.run("take", lambda: self._take(key, kind, body), within=TAKE_RECONNECT_SECONDS)

    def _take(self, key: str, kind: str, body: dict) -> InboxItem | None:
        now = self._now()
        try:
            with self.database.session(ahead=True) as session:
                row = InboxRow(
                    key=key[:255],
                    kind=kind[:64],
                    body=body,
                    received_at=now,
                    claimed_by=self.worker_id,
                    claimed_until=now + INBOX_LEASE,
                    attempts=1,
                )
                session.add(row)
                session.flush()
                return InboxItem(row.id, row.kind, body, now, 1)
        except IntegrityError:
            return None

    def _open(self, now: datetime) -> ColumnElement[bool]:
        """Not done, and nobody is carrying it out: its claim ended, or its worker is gone."""
        return InboxRow.done_at.is_(None) & (
            InboxRow.claimed_until.is_(None)
            | (InboxRow.claimed_until <= now)
            | self._orphaned(InboxRow.claimed_by, now)
        )

    @survives_reconnect
    def due(self, now: datetime, limit: int = 100) -> list[int]:
        """Requests left undone by a worker that died (or gave back), oldest first."""
        return self._due_ids(InboxRow.id, self._open(now), InboxRow.id, limit)

    @survives_reconnect
    def claim(self, item_id: int, now: datetime) -> InboxItem | None:
        """Take over one undone request; None when another worker has it or it is done."""
        with self._session() as session:
            claimed = changed(
                session,
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .where(self._open(now))
                .values(
                    claimed_by=self.worker_id,
                    claimed_until=now + INBOX_LEASE,
                    attempts=InboxRow.attempts + 1,
                ),
            )
            if claimed != 1:
                return None
            row = session.get(InboxRow, item_id)
            assert row is not None
            return InboxItem(row.id, row.kind, row.body, row.received_at, row.attempts)

    @survives_reconnect
    def finish(self, item_id: int, error: str | None = None) -> None:
        """Carried out (or given up, with `error`): never again. The body goes; the key stays a day. Done ones older
        than that are deleted here, a few at a time, so the table holds about a day of requests."""
        now = self._now()
        with self._session() as session:
            changed(
                session,
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .values(
                    done_at=now,
                    body={},
                    claimed_by=None,
                    claimed_until=None,
                    last_error=error[:MAX_ERROR] if error else None,
                ),
            )
            old = select(InboxRow.id).where(InboxRow.done_at < now - DONE_KEPT).limit(10)
            session.execute(delete(InboxRow).where(InboxRow.id.in_(old)))

    @survives_reconnect
    def retry_later(self, item_id: int, at: datetime, error: str) -> None:
        """Not carried out this time: due again at `at`, for whichever worker sweeps then."""
        with self._session() as session:
            changed(
                session,
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .values(claimed_by=None, claimed_until=at, last_error=error[:MAX_ERROR]),
            )

    @survives_reconnect
    def hand_back(self, item_id: int) -> None:
        """A stopping worker did not start it: due at once for the next."""
        with self._session() as session:
            changed(
                session,
                update(InboxRow)
                .where(InboxRow.id == item_id)
                .where(InboxRow.done_at.is_(None))
                .where(InboxRow.claimed_by == self.worker_id)
                .values(claimed_by=None, claimed_until=None),
            )

    @survives_reconnect
    def undone_count(self) -> int:
        with self._session() as session:
            return (
                session.scalar(select(func.count()).select_from(InboxRow).where(InboxRow.done_at.is_(None)))
                or 0
            )
