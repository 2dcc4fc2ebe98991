"""Reporters: who reported each case, and whether they have been told its outcome."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import CaseStatus
from bot.store.database import survives_reconnect
from bot.store.models import CaseRow, ReporterRow
from bot.store.records import CaseSummary, ReporterToTell
from bot.store.repository import NOW, At, Repository, changed, latest_verdict


class Reporters(Repository):
    """Each reporter is told the outcome once: claimed before the message, released if Slack refused it."""

    def _untold(self, now: At) -> ColumnElement[bool]:
        """Not told the outcome: never, or the worker sending it died before Slack confirmed it."""
        return ReporterRow.outcome_sent_at.is_(None) | self._orphaned(ReporterRow.outcome_claimed_by, now)

    @survives_reconnect
    def reporters_to_tell(self, case_id: int) -> list[ReporterToTell]:
        with self._session() as session:
            rows = session.scalars(
                select(ReporterRow).where(ReporterRow.case_id == case_id).where(self._untold(self._now()))
            )
            return [ReporterToTell(r.id, r.user_id, r.channel_id) for r in rows]

    @survives_reconnect
    def claim_reporter_outcome(self, reporter_row_id: int) -> bool:
        """True once per reporter: the reporter counts as told (the acknowledgement that carried the outcome)."""
        with self._session() as session:
            return (
                changed(
                    session,
                    update(ReporterRow)
                    .where(ReporterRow.id == reporter_row_id)
                    .where(self._untold(self._now()))
                    .values(outcome_sent_at=self._now(), outcome_claimed_by=None),
                )
                == 1
            )

    @survives_reconnect
    def claim_outcome_message(self, reporter_row_id: int) -> bool:
        """True for the one worker that may send this reporter the outcome message now; it says
        `outcome_message_sent` once Slack took it, or `release_reporter_outcome` if Slack refused. Should the worker
        die in between, the reporter is untold again."""
        now = self._now()
        with self._session() as session:
            return (
                changed(
                    session,
                    update(ReporterRow)
                    .where(ReporterRow.id == reporter_row_id)
                    .where(self._untold(now))
                    .values(outcome_sent_at=now, outcome_claimed_by=self.worker_id),
                )
                == 1
            )

    @survives_reconnect
    def outcome_message_sent(self, reporter_row_id: int) -> None:
        with self._session() as session:
            changed(
                session,
                update(ReporterRow)
                .where(ReporterRow.id == reporter_row_id)
                .where(ReporterRow.outcome_claimed_by == self.worker_id)
                .values(outcome_claimed_by=None),
            )

    @survives_reconnect
    def release_reporter_outcome(self, reporter_row_id: int) -> None:
        with self._session() as session:
            changed(
                session,
                update(ReporterRow)
                .where(ReporterRow.id == reporter_row_id)
                .values(outcome_sent_at=None, outcome_claimed_by=None),
            )

    @survives_reconnect
    def cases_with_untold_reporters(self, limit: int = 100) -> list[int]:
        """Finished cases with a reporter who has not yet been told the outcome (a DM that failed earlier)."""
        finished = [CaseStatus.VERDICT.value, CaseStatus.GAVE_UP.value, CaseStatus.DISMISSED.value]
        return self._due(
            f"untold {limit}",
            lambda: (
                select(ReporterRow.case_id)
                .join(CaseRow, CaseRow.id == ReporterRow.case_id)
                .where(CaseRow.status.in_(finished))
                .where(self._untold(NOW))
                .distinct()
                .limit(limit)
            ),
            self._now(),
        )

    @survives_reconnect
    def cases_reported_by(self, user_id: str, limit: int = 10) -> list[CaseSummary]:
        with self._session() as session:
            cases = session.scalars(
                select(CaseRow)
                .join(ReporterRow, ReporterRow.case_id == CaseRow.id)
                .where(ReporterRow.user_id == user_id)
                .order_by(CaseRow.id.desc())
                .limit(limit)
            )
            return [
                CaseSummary(
                    c.id, CaseStatus(c.status), c.subject, c.created_at, latest_verdict(session, c.id)
                )
                for c in cases
            ]
