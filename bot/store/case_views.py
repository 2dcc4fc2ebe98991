"""A case read whole: the `CaseView` (status, verdict, reporters, actions, remediations, blocks) every card and
message is drawn from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import (
    BlockEntry,
    BlockView,
    CaseAction,
    CaseKind,
    CaseReport,
    CaseStatus,
    CaseView,
    Category,
    RemediationState,
    RemediationView,
    ReportedMessage,
    ReviewView,
    SubmissionSource,
    SubmissionState,
    UserSubmissionView,
)
from bot.store.models import (
    BlockRequestRow,
    CaseActionRow,
    CaseContentRow,
    CaseRow,
    RemediationItemRow,
    RemediationRow,
    ReviewRow,
    SubmissionRow,
)
from bot.store.records import ItemState
from bot.store.repository import latest_verdict


def case_view(session: Session, case_id: int, now: datetime) -> CaseView:
    """The case as every card and message shows it; KeyError if there is no such case."""
    case = session.get(CaseRow, case_id)
    if case is None:
        raise KeyError(case_id)
    reporters = tuple(r.user_id for r in case.reporters)
    latest = case.submissions[-1] if case.submissions else None
    sent = [s for s in case.submissions if s.microsoft_id]
    current = sent[-1] if sent else None
    verdict = latest_verdict(session, case.id)
    pending = [s for s in case.submissions if s.state == SubmissionState.QUEUED.value and s.not_before > now]
    actions = tuple(
        CaseAction(action=a.action, actor=a.actor, at=a.at, detail=a.detail)
        for a in session.scalars(
            select(CaseActionRow).where(CaseActionRow.case_id == case_id).order_by(CaseActionRow.id)
        )
    )
    first_note = case.reporters[0].note if case.reporters else case.note
    has_copy = case.kind != CaseKind.EMAIL.value or (
        session.scalar(select(CaseContentRow.case_id).where(CaseContentRow.case_id == case.id)) is not None
    )
    return CaseView(
        case_id=case.id,
        kind=CaseKind(case.kind),
        status=CaseStatus(case.status),
        category=Category(case.category),
        created_at=case.created_at,
        reporters=reporters,
        message=ReportedMessage.from_dict(case.message_json) if case.message_json else None,
        url=case.url,
        note=first_note or "",
        submission_id=current.microsoft_id if current else None,
        submitted_at=current.sent_at if current else None,
        checks_done=current.checks_done if current else 0,
        next_check_at=(
            current.next_check_at if current and current.state == SubmissionState.CHECKING.value else None
        ),
        verdict=verdict,
        error=case.error or (latest.last_error if latest and latest.state == "failed" else None),
        actions=actions,
        resubmit_due_at=pending[-1].not_before if pending else None,
        network_message_id=case.network_message_id,
        remediations=_remediation_views(session, case.id),
        blocks=_block_views(session, case.id),
        reports=tuple(
            CaseReport(user_id=r.user_id, email=r.email, door=r.door, reported_at=r.reported_at)
            for r in case.reporters
        ),
        user_submissions=_user_submissions(session, case.submissions),
        has_copy=has_copy,
    )


def _user_submissions(session: Session, submissions: list[SubmissionRow]) -> tuple[UserSubmissionView, ...]:
    followed = [s for s in submissions if s.source == SubmissionSource.USER.value and s.microsoft_id]
    if not followed:
        return ()
    reviews = {
        r.submission_id: r
        for r in session.scalars(
            select(ReviewRow).where(ReviewRow.submission_id.in_([s.id for s in followed]))
        )
    }
    views = []
    for submission in followed:
        review = reviews.get(submission.id)
        views.append(
            UserSubmissionView(
                microsoft_id=submission.microsoft_id or "",
                reporter=submission.recipient,
                reported_at=submission.sent_at or submission.created_at,
                review=(
                    ReviewView(
                        category=review.category,
                        requested_by=review.requested_by,
                        state=review.state,
                        at=review.finished_at or review.created_at,
                        error=review.error,
                    )
                    if review is not None
                    else None
                ),
            )
        )
    return tuple(views)


def _remediation_views(session: Session, case_id: int) -> tuple[RemediationView, ...]:
    views = []
    for row in session.scalars(
        select(RemediationRow).where(RemediationRow.case_id == case_id).order_by(RemediationRow.id)
    ):
        remaining: tuple[str, ...] = ()
        if row.state in (RemediationState.PARTIAL.value, RemediationState.FAILED.value) and row.total:
            remaining = tuple(
                session.scalars(
                    select(RemediationItemRow.recipient)
                    .where(RemediationItemRow.remediation_id == row.id)
                    .where(RemediationItemRow.state != ItemState.DONE)
                    .order_by(RemediationItemRow.id)
                    .limit(5)
                )
            )
        views.append(
            RemediationView(
                remediation_id=row.id,
                kind=row.kind,
                scope=row.scope,
                action=row.action,
                method=row.method,
                state=RemediationState(row.state),
                requested_by=row.requested_by,
                created_at=row.created_at,
                total=row.total,
                done=row.done_count,
                failed=row.failed_count,
                missing=row.missing_count,
                action_center_urls=tuple(row.action_center_urls or ()),
                error=row.error,
                finished_at=row.finished_at,
                remaining=remaining,
            )
        )
    return tuple(views)


def _block_views(session: Session, case_id: int) -> tuple[BlockView, ...]:
    views = []
    for row in session.scalars(
        select(BlockRequestRow).where(BlockRequestRow.case_id == case_id).order_by(BlockRequestRow.id)
    ):
        entries = tuple(
            BlockEntry(
                entry_type=str(item.get("entryType") or ""),
                value=str(item.get("value") or ""),
                status=str(item.get("status") or ""),
                expires=str(item["expirationDateTime"]) if item.get("expirationDateTime") else None,
            )
            for item in (row.results or [])
            if isinstance(item, dict)
        )
        views.append(
            BlockView(
                block_id=row.id,
                state=row.state,
                automatic=row.automatic,
                requested_by=row.requested_by,
                created_at=row.created_at,
                not_before=row.not_before,
                expires_days=row.expires_days,
                sent_at=row.sent_at,
                submission_id=row.microsoft_id,
                entries=entries,
                error=row.last_error,
            )
        )
    return tuple(views)
