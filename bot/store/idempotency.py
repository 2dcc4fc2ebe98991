"""Idempotency: a Slack event id, a click or a scheduled run is acted on once, across threads and processes."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from bot.store.database import survives_reconnect
from bot.store.models import SeenEventRow
from bot.store.repository import Repository


class Idempotency(Repository):
    """Keys seen once (the primary key decides)."""

    @survives_reconnect
    def first_time(self, key: str) -> bool:
        """True exactly once per key (a Slack event id, a click id), across threads and processes."""
        try:
            with self._session() as session:
                session.add(SeenEventRow(key=key[:255], seen_at=self._now()))
            return True
        except IntegrityError:
            return False

    @survives_reconnect
    def forget(self, key: str) -> None:
        """Undo `first_time(key)`: the work it guarded did not happen and may be tried again."""
        with self._session() as session:
            session.execute(delete(SeenEventRow).where(SeenEventRow.key == key[:255]))
