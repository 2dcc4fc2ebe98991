"""Digests: what the weekly digest is made of, read across cases, reporters, verdicts and the audit log."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from bot.domain import CaseStatus
from bot.store.audit import read_details
from bot.store.database import survives_reconnect
from bot.store.models import AuditRow, CaseRow, ReporterRow, SubmissionRow, VerdictRow
from bot.store.records import DigestCase, DigestFacts
from bot.store.repository import Repository


class Digests(Repository):
    """One window of time, summed."""

    @survives_reconnect
    def facts(
        self, since: datetime, until: datetime, *, audit_actions: tuple[str, ...], top: int = 5
    ) -> DigestFacts:
        with self._session() as session:
            cases = session.execute(
                select(CaseRow.id, CaseRow.created_at, CaseRow.status)
                .where(CaseRow.created_at >= since)
                .where(CaseRow.created_at < until)
                .order_by(CaseRow.id)
            ).all()
            opened_in_window = (
                select(CaseRow.id).where(CaseRow.created_at >= since).where(CaseRow.created_at < until)
            )
            latest: dict[int, str | None] = {}
            first_at: dict[int, datetime] = {}
            for case_id, observed_at, category in session.execute(
                select(SubmissionRow.case_id, VerdictRow.observed_at, VerdictRow.category)
                .join(SubmissionRow, SubmissionRow.id == VerdictRow.submission_id)
                .where(VerdictRow.is_final.is_(True))
                .where(SubmissionRow.case_id.in_(opened_in_window))
                .order_by(VerdictRow.id)
            ):
                latest[case_id] = category
                first_at.setdefault(case_id, observed_at)
            # Time to verdict counts the verdicts reached in the window, whenever their case was reported.
            first_final = func.min(VerdictRow.observed_at)
            seconds = [
                max((reached - reported).total_seconds(), 0.0)
                for reported, reached in session.execute(
                    select(CaseRow.created_at, first_final)
                    .join(SubmissionRow, SubmissionRow.case_id == CaseRow.id)
                    .join(VerdictRow, VerdictRow.submission_id == SubmissionRow.id)
                    .where(VerdictRow.is_final.is_(True))
                    .group_by(CaseRow.id, CaseRow.created_at)
                    .having(first_final >= since)
                    .having(first_final < until)
                )
            ]
            in_window = (ReporterRow.reported_at >= since) & (ReporterRow.reported_at < until)
            reports = session.scalar(select(func.count()).select_from(ReporterRow).where(in_window)) or 0
            top_reporters = [
                (user_id, count)
                for user_id, count in session.execute(
                    select(ReporterRow.user_id, func.count().label("n"))
                    .where(in_window)
                    .group_by(ReporterRow.user_id)
                    .order_by(func.count().desc(), ReporterRow.user_id)
                    .limit(top)
                )
            ]
            audit = [
                (a.action, a.outcome, read_details(a.detail))
                for a in session.execute(
                    select(AuditRow.action, AuditRow.outcome, AuditRow.detail)
                    .where(AuditRow.at >= since)
                    .where(AuditRow.at < until)
                    .where(AuditRow.action.in_(audit_actions))
                    .order_by(AuditRow.id)
                )
            ]
            return DigestFacts(
                cases=[
                    DigestCase(
                        case_id=c.id,
                        created_at=c.created_at,
                        status=CaseStatus(c.status),
                        verdict=latest.get(c.id),
                        first_verdict_at=first_at.get(c.id),
                    )
                    for c in cases
                ],
                reports=int(reports),
                top_reporters=top_reporters,
                seconds_to_verdict=seconds,
                audit=audit,
            )
