"""Workers: which phishbot processes are alive, so that the claims of a dead one are free at once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, update

from bot.store.database import survives_reconnect
from bot.store.models import WorkerRow
from bot.store.repository import Repository, changed


class Workers(Repository):
    """This process's heartbeat, and the other workers it may declare gone."""

    @survives_reconnect
    def heartbeat(self) -> None:
        """This worker is alive: its claims stay its own for another WORKER_TIMEOUT."""
        now = self._now()
        with self._session() as session:
            seen = changed(
                session, update(WorkerRow).where(WorkerRow.id == self.worker_id).values(seen_at=now)
            )
            if not seen:
                session.add(WorkerRow(id=self.worker_id, started_at=now, seen_at=now))
                # A worker gone for a day left nothing a claim could still name usefully.
                session.execute(delete(WorkerRow).where(WorkerRow.seen_at < now - timedelta(days=1)))

    @survives_reconnect
    def forget_other_workers(self) -> None:
        """Every other worker is gone (SQLite: this process holds the database's process lock): what they
        claimed is free now, not when its lease ends."""
        with self._session() as session:
            session.execute(delete(WorkerRow).where(WorkerRow.id != self.worker_id))
        self.heartbeat()
