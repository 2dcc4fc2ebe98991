"""App Homes: who has opened phishbot's Home tab, when each was last published, and what a home shows — a person's
own reports, and for responders the open cases by what they wait for."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import ACTIVE_REMEDIATION_STATES, CaseKind, CaseStatus
from bot.store.database import survives_reconnect, utcnow
from bot.store.models import (
    AppHomeRow,
    BlockRequestRow,
    CaseActionRow,
    CaseRow,
    RemediationRow,
    ReporterRow,
    ReviewRow,
)
from bot.store.records import BlockState, CaseSummary, OpenCaseGroup, OpenCaseLine
from bot.store.repository import Repository, changed, latest_verdict

_WAITING = (CaseStatus.SUBMITTING.value, CaseStatus.CHECKING.value)
_ACTIVE_BLOCKS = (BlockState.SCHEDULED, BlockState.SENDING, BlockState.CHECKING)
# A home not opened for this long is not kept up to date any more (it is rebuilt when it is opened again).
KEEP_FRESH_FOR = timedelta(days=30)


class AppHomes(Repository):
    @survives_reconnect
    def opened(self, user_id: str, now: datetime | None = None) -> None:
        now = now or utcnow()
        with self._session() as session:
            if changed(
                session, update(AppHomeRow).where(AppHomeRow.user_id == user_id).values(opened_at=now)
            ):
                return
        try:
            with self._session() as session:
                session.add(
                    AppHomeRow(user_id=user_id[:32], opened_at=now, published_at=None, responder=False)
                )
        except IntegrityError:
            pass  # opened twice at once

    @survives_reconnect
    def published(self, user_id: str, *, read_at: datetime, responder: bool) -> None:
        """The home shows the store as it was at `read_at`: a case changed after that makes it stale."""
        with self._session() as session:
            changed(
                session,
                update(AppHomeRow)
                .where(AppHomeRow.user_id == user_id)
                .values(published_at=read_at, responder=responder),
            )

    @survives_reconnect
    def stale_homes(self, now: datetime, *, min_gap: timedelta, limit: int = 50) -> list[str]:
        """Homes to publish again: one of the person's cases changed since (for a responder's: any case), and
        the last publication is at least `min_gap` old (a busy case does not flood views.publish)."""
        home = AppHomeRow
        changed_since: ColumnElement[bool] = CaseRow.updated_at > home.published_at
        own_case = exists(
            select(ReporterRow.id)
            .join(CaseRow, CaseRow.id == ReporterRow.case_id)
            .where(ReporterRow.user_id == home.user_id)
            .where(changed_since)
        )
        any_case = exists(select(CaseRow.id).where(changed_since))
        with self._session() as session:
            return list(
                session.scalars(
                    select(home.user_id)
                    .where(home.published_at.is_not(None))
                    .where(home.published_at <= now - min_gap)
                    .where(home.opened_at > now - KEEP_FRESH_FOR)
                    .where(or_(own_case, home.responder.is_(True) & any_case))
                    .order_by(home.published_at)
                    .limit(limit)
                )
            )

    @survives_reconnect
    def reports_of(self, user_id: str, limit: int = 10) -> list[CaseSummary]:
        """The person's own latest reports, newest first, as their home lists them."""
        with self._session() as session:
            rows = session.execute(
                select(CaseRow, ReporterRow.door)
                .join(ReporterRow, ReporterRow.case_id == CaseRow.id)
                .where(ReporterRow.user_id == user_id)
                .order_by(CaseRow.id.desc())
                .limit(limit)
            ).all()
            return [
                CaseSummary(
                    case.id,
                    CaseStatus(case.status),
                    case.subject,
                    case.created_at,
                    latest_verdict(session, case.id),
                    kind=CaseKind(case.kind),
                    url=case.url,
                    door=door,
                    reviewed_as=_reviewed_as(session, case.id),
                )
                for case, door in rows
            ]

    @survives_reconnect
    def open_cases(self, shown: int = 8) -> list[OpenCaseGroup]:
        """Open cases by what they wait for: Microsoft (waiting), a responder (to_act: a verdict in and nothing
        done yet), or a purge or block under way (running); a count of each and its newest `shown`."""
        active_remediation = exists(
            select(RemediationRow.id)
            .where(RemediationRow.case_id == CaseRow.id)
            .where(RemediationRow.state.in_([s.value for s in ACTIVE_REMEDIATION_STATES]))
        )
        active_block = exists(
            select(BlockRequestRow.id)
            .where(BlockRequestRow.case_id == CaseRow.id)
            .where(BlockRequestRow.state.in_(_ACTIVE_BLOCKS))
        )
        acted = or_(
            exists(select(CaseActionRow.id).where(CaseActionRow.case_id == CaseRow.id)),
            exists(select(RemediationRow.id).where(RemediationRow.case_id == CaseRow.id)),
            exists(select(BlockRequestRow.id).where(BlockRequestRow.case_id == CaseRow.id)),
            exists(select(ReviewRow.id).where(ReviewRow.case_id == CaseRow.id)),
        )
        groups: list[tuple[str, ColumnElement[bool]]] = [
            ("running", active_remediation | active_block),
            ("to_act", (CaseRow.status == CaseStatus.VERDICT.value) & ~acted),
            ("waiting", CaseRow.status.in_(_WAITING) & ~active_remediation & ~active_block),
        ]
        with self._session() as session:
            return [
                OpenCaseGroup(
                    name=name,
                    count=session.scalar(select(func.count()).select_from(CaseRow).where(where)) or 0,
                    cases=[
                        _open_line(session, case)
                        for case in session.scalars(
                            select(CaseRow).where(where).order_by(CaseRow.id.desc()).limit(shown)
                        )
                    ],
                )
                for name, where in groups
            ]


def _open_line(session: Session, case: CaseRow) -> OpenCaseLine:
    return OpenCaseLine(
        case_id=case.id,
        kind=CaseKind(case.kind),
        status=CaseStatus(case.status),
        subject=case.subject,
        url=case.url,
        created_at=case.created_at,
        verdict=latest_verdict(session, case.id),
        card=(case.card_channel, case.card_ts) if case.card_channel and case.card_ts else None,
    )


def _reviewed_as(session: Session, case_id: int) -> str | None:
    return session.scalar(
        select(ReviewRow.category)
        .where(ReviewRow.case_id == case_id)
        .where(ReviewRow.state == "done")
        .order_by(ReviewRow.id.desc())
        .limit(1)
    )
