"""App Homes: who has opened phishbot's Home tab, when each was last published, and what a home shows — a person's
own reports, and for responders the open cases by what they wait for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import ACTIVE_REMEDIATION_STATES, CaseKind, CaseStatus
from bot.store.database import survives_reconnect
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
from bot.store.repository import NOW, Repository, changed, latest_verdict

_WAITING = (CaseStatus.SUBMITTING.value, CaseStatus.CHECKING.value)
_ACTIVE_BLOCKS = (BlockState.SCHEDULED, BlockState.SENDING, BlockState.CHECKING)
# A home not opened for this long is not kept up to date any more (it is rebuilt when it is opened again).
KEEP_FRESH_FOR = timedelta(days=30)


@dataclass(frozen=True)
class HomeFacts:
    """What one App Home shows, read in one transaction at `read_at`."""

    read_at: datetime
    reports: list[CaseSummary]
    groups: list[OpenCaseGroup] | None  # the open cases, for a responder's home only


class AppHomes(Repository):
    @survives_reconnect
    def opened(self, user_id: str) -> None:
        now = self._now()
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
    def facts(self, user_id: str, *, responder: bool, reports: int = 10, shown: int = 8) -> HomeFacts:
        with self._session() as session:
            read_at = self._now()
            return HomeFacts(
                read_at=read_at,
                reports=_reports_of(session, user_id, reports),
                groups=_open_cases(session, shown) if responder else None,
            )

    @survives_reconnect
    def published(self, user_id: str, *, read_at: datetime, responder: bool, refresh_after: datetime) -> None:
        """The home shows the store as it was at `read_at`; it is not published again before `refresh_after`."""
        with self._session() as session:
            changed(
                session,
                update(AppHomeRow)
                .where(AppHomeRow.user_id == user_id)
                .values(published_at=read_at, responder=responder, refresh_after=refresh_after),
            )

    @survives_reconnect
    def stale_homes(self, now: datetime, *, limit: int = 50) -> list[str]:
        """Homes to publish again: one of the person's cases changed since (for a responder's: any case), and
        `refresh_after` has passed."""

        def stale() -> Select[str]:
            home = AppHomeRow
            changed_since: ColumnElement[bool] = CaseRow.updated_at > home.published_at
            own_case = exists(
                select(ReporterRow.id)
                .join(CaseRow, CaseRow.id == ReporterRow.case_id)
                .where(ReporterRow.user_id == home.user_id)
                .where(changed_since)
            )
            any_case = exists(select(CaseRow.id).where(changed_since))
            return (
                select(home.user_id)
                .where(home.published_at.is_not(None))
                .where(home.refresh_after <= NOW)
                .where(home.opened_at > bindparam("opened_since"))
                .where(or_(own_case, home.responder.is_(True) & any_case))
                .order_by(home.published_at)
                .limit(limit)
            )

        return self._due(f"stale homes {limit}", stale, now, opened_since=self._now() - KEEP_FRESH_FOR)


def _reports_of(session: Session, user_id: str, limit: int) -> list[CaseSummary]:
    """The person's own latest reports, newest first, as their home lists them."""
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


def _open_cases(session: Session, shown: int) -> list[OpenCaseGroup]:
    """Open cases by what they wait for: Microsoft (waiting), a responder (to_act: a verdict in and nothing done
    yet), or a purge or block under way (running); a count of each and its newest `shown`."""
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
