"""Block requests: adding a case's message to the Tenant Allow/Block List, sent when Microsoft's throttle
allows, then read until Microsoft says what entries it made."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import CaseKind, CaseStatus, SubmissionState, Verdict
from bot.store.audit import AuditNote, audit_row
from bot.store.database import survives_reconnect
from bot.store.models import BlockRequestRow, CaseContentRow, CaseRow, SubmissionRow, VerdictRow
from bot.store.records import BlockCheckWork, BlockSendWork, BlockState
from bot.store.repository import CLAIM_LEASE, At, Repository, changed, latest_verdict, row_of, touch_case


class BlockRequests(Repository):
    """A block is claimed once for sending, and its checks are leased like verdict checks."""

    @survives_reconnect
    def submission_times(self, case_id: int, exclude_block_id: int | None = None) -> list[datetime]:
        """When the bot sent this case's message to Microsoft: verdict submissions and blocks alike (Microsoft
        throttles the same item whatever the submission is for). A send in flight counts as now."""
        now = self._now()
        with self._session() as session:
            times: list[datetime] = [
                sent
                for sent in session.scalars(
                    select(SubmissionRow.sent_at)
                    .where(SubmissionRow.case_id == case_id)
                    .where(SubmissionRow.sent_at.is_not(None))
                )
                if sent is not None
            ]
            times += [
                sent
                for sent in session.scalars(
                    select(BlockRequestRow.sent_at)
                    .where(BlockRequestRow.case_id == case_id)
                    .where(BlockRequestRow.sent_at.is_not(None))
                )
                if sent is not None
            ]
            in_flight = (
                session.scalar(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(SubmissionRow.case_id == case_id)
                    .where(SubmissionRow.state == SubmissionState.SENDING.value)
                )
                or 0
            ) + (
                session.scalar(
                    select(func.count())
                    .select_from(BlockRequestRow)
                    .where(BlockRequestRow.case_id == case_id)
                    .where(BlockRequestRow.state == BlockState.SENDING)
                    .where(BlockRequestRow.id != (exclude_block_id or 0))
                )
                or 0
            )
            return sorted(times + [now] * int(in_flight))

    @survives_reconnect
    def queue_block(
        self,
        case_id: int,
        actor: str,
        *,
        expires_days: int,
        note: str,
        not_before: datetime,
        automatic: bool = False,
    ) -> int | None:
        """Record a block to send at `not_before`. None when one is already waiting or being sent for the case,
        or (automatic) when the case was already considered for an automatic block."""
        now = self._now()
        try:
            with self._session() as session:
                session.get(CaseRow, case_id, with_for_update=True)
                waiting = session.scalar(
                    select(func.count())
                    .select_from(BlockRequestRow)
                    .where(BlockRequestRow.case_id == case_id)
                    .where(BlockRequestRow.state.in_([BlockState.SCHEDULED, BlockState.SENDING]))
                )
                if waiting and not automatic:
                    return None
                row = BlockRequestRow(
                    case_id=case_id,
                    auto_case_id=case_id if automatic else None,
                    automatic=automatic,
                    requested_by=actor,
                    state=BlockState.SCHEDULED,
                    expires_days=expires_days,
                    note=note[:1000],
                    created_at=now,
                    not_before=not_before,
                    checks_done=0,
                )
                session.add(row)
                session.flush()
                touch_case(session, case_id, now)
                return row.id
        except IntegrityError:
            return None

    @survives_reconnect
    def skip_auto_block(self, case_id: int, reason: str) -> bool:
        """Record that the case was considered for an automatic block and not blocked (a simulation...)."""
        now = self._now()
        try:
            with self._session() as session:
                session.add(
                    BlockRequestRow(
                        case_id=case_id,
                        auto_case_id=case_id,
                        automatic=True,
                        requested_by="phishbot",
                        state=BlockState.SKIPPED,
                        expires_days=0,
                        note="",
                        created_at=now,
                        not_before=now,
                        checks_done=0,
                        last_error=reason[:1000],
                        finished_at=now,
                    )
                )
                touch_case(session, case_id, now)
            return True
        except IntegrityError:
            return False

    @survives_reconnect
    def auto_block_candidates(self, categories: Sequence[str], limit: int = 50) -> list[tuple[int, Verdict]]:
        """Email cases with a final verdict in `categories` never yet considered for an automatic block, with
        their latest verdict (the caller decides: block, or skip a simulation)."""
        if not categories:
            return []
        with self._session() as session:
            considered = select(BlockRequestRow.auto_case_id).where(BlockRequestRow.auto_case_id.is_not(None))
            case_ids = list(
                session.scalars(
                    select(SubmissionRow.case_id)
                    .join(VerdictRow, VerdictRow.submission_id == SubmissionRow.id)
                    .join(CaseRow, CaseRow.id == SubmissionRow.case_id)
                    .where(VerdictRow.is_final.is_(True))
                    .where(VerdictRow.category.in_(list(categories)))
                    .where(CaseRow.kind == CaseKind.EMAIL.value)
                    .where(CaseRow.status == CaseStatus.VERDICT.value)
                    .where(SubmissionRow.case_id.not_in(considered))
                    .distinct()
                    .limit(limit)
                )
            )
            found = []
            for case_id in case_ids:
                verdict = latest_verdict(session, case_id)
                if verdict is not None:
                    found.append((case_id, verdict))
            return found

    @survives_reconnect
    def due_blocks(self, now: datetime | None = None, limit: int = 50) -> list[int]:
        now = now or self._now()
        return self._due_ids(
            "blocks", BlockRequestRow.id, self._block_sendable, BlockRequestRow.not_before, limit, now
        )

    def _block_sendable(self, now: At) -> ColumnElement[bool]:
        return ((BlockRequestRow.state == BlockState.SCHEDULED) & (BlockRequestRow.not_before <= now)) | (
            (BlockRequestRow.state == BlockState.SENDING)
            & ((BlockRequestRow.claimed_until <= now) | self._orphaned(BlockRequestRow.claimed_by, now))
        )

    @survives_reconnect
    def claim_block_send(self, block_id: int, now: datetime | None = None) -> BlockSendWork | None:
        now = now or self._now()
        with self._session() as session:
            claimed = changed(
                session,
                update(BlockRequestRow)
                .where(BlockRequestRow.id == block_id)
                .where(self._block_sendable(now))
                .values(state=BlockState.SENDING, claimed_until=now + CLAIM_LEASE, claimed_by=self.worker_id),
            )
            if claimed != 1:
                return None
            row = row_of(session, BlockRequestRow, block_id)
            case = row_of(session, CaseRow, row.case_id)
            content = session.get(CaseContentRow, row.case_id)
            recipient = session.scalar(
                select(SubmissionRow.recipient)
                .where(SubmissionRow.case_id == row.case_id)
                .where(SubmissionRow.recipient.is_not(None))
                .order_by(SubmissionRow.id)
                .limit(1)
            )
            touch_case(session, row.case_id, now)
            return BlockSendWork(
                block_id=row.id,
                case_id=row.case_id,
                raw=content.raw if content else None,
                recipient=recipient,
                category=case.category,
                expires_days=row.expires_days,
                note=row.note,
                automatic=row.automatic,
                requested_by=row.requested_by,
                case_dismissed=case.status == CaseStatus.DISMISSED.value,
            )

    @survives_reconnect
    def reschedule_block(self, block_id: int, not_before: datetime, reason: str | None = None) -> None:
        with self._session() as session:
            row = row_of(session, BlockRequestRow, block_id)
            row.state = BlockState.SCHEDULED
            row.not_before = not_before
            row.claimed_until = None
            row.claimed_by = None
            row.last_error = reason[:1000] if reason else None
            touch_case(session, row.case_id, self._now())

    @survives_reconnect
    def record_block_sent(self, block_id: int, microsoft_id: str, next_check_at: datetime) -> None:
        now = self._now()
        with self._session() as session:
            row = row_of(session, BlockRequestRow, block_id)
            row.state = BlockState.CHECKING
            row.microsoft_id = microsoft_id[:64] or None
            row.sent_at = now
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = next_check_at
            row.last_error = None
            touch_case(session, row.case_id, now)

    @survives_reconnect
    def record_block_failure(self, block_id: int, error: str) -> None:
        now = self._now()
        with self._session() as session:
            row = row_of(session, BlockRequestRow, block_id)
            row.state = BlockState.FAILED
            row.claimed_until = None
            row.claimed_by = None
            row.last_error = error[:1000]
            row.finished_at = now
            touch_case(session, row.case_id, now)

    @survives_reconnect
    def claim_due_block_checks(self, now: datetime | None = None, limit: int = 200) -> list[BlockCheckWork]:
        return self._lease_due(
            BlockRequestRow,
            BlockState.CHECKING,
            now or self._now(),
            limit,
            lambda row: BlockCheckWork(
                block_id=row.id,
                case_id=row.case_id,
                microsoft_id=row.microsoft_id or "",
                sent_at=row.sent_at or row.created_at,
                checks_done=row.checks_done,
            ),
        )

    @survives_reconnect
    def record_block_check(
        self,
        block_id: int,
        results: list[dict[str, Any]] | None,
        *,
        finished: str | None,
        next_check_at: datetime | None,
        error: str | None = None,
        audit: AuditNote | None = None,
    ) -> bool:
        """Store what Microsoft says about a block's entries; `finished` ("done", "gave_up") ends the checks,
        with `audit` in the same transaction. True when this check ended them."""
        now = self._now()
        with self._session() as session:
            row = row_of(session, BlockRequestRow, block_id)
            if row.state != BlockState.CHECKING:
                return False
            if finished and audit is not None:
                session.add(audit_row(audit, row.case_id, now))
            row.checks_done += 1
            if results is not None:
                row.results = results
            row.last_error = error[:1000] if error else None
            if finished:
                row.state = finished
                row.next_check_at = None
                row.finished_at = now
            else:
                row.next_check_at = next_check_at
            touch_case(session, row.case_id, now)
            return bool(finished)
