"""Remediations: purges and restores of a case's copies, one at a time per case, and the copies (items) each
works through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import RemediationState
from bot.store.audit import AuditNote, audit_row
from bot.store.database import survives_reconnect
from bot.store.models import RemediationItemRow, RemediationRow
from bot.store.records import ItemState, ItemUpdate, ItemWork, RemediationWork
from bot.store.repository import REMEDIATION_LEASE, At, Repository, changed, row_of, touch_case


class RemediationRecords(Repository):
    """A remediation is claimed by one worker at a time (a lease it extends as it records progress)."""

    @survives_reconnect
    def start_remediation(
        self,
        case_id: int,
        *,
        kind: str,
        scope: str,
        action: str,
        method: str,
        actor: str,
        restores_id: int | None = None,
    ) -> int | None:
        """Take the case's one remediation slot; None when another remediation of the case holds it (the unique
        `active_case_id` decides, so two clicks, threads or replicas can never both start one)."""
        now = self._now()
        try:
            with self._session() as session:
                row = RemediationRow(
                    case_id=case_id,
                    active_case_id=case_id,
                    kind=kind,
                    scope=scope,
                    action=action,
                    method=method,
                    state=RemediationState.FINDING.value,
                    requested_by=actor,
                    restores_id=restores_id,
                    total=0,
                    done_count=0,
                    failed_count=0,
                    missing_count=0,
                    created_at=now,
                    updated_at=now,
                    # Held by this worker while it looks for the copies; should it die, another looks again.
                    claimed_until=now + REMEDIATION_LEASE,
                    claimed_by=self.worker_id,
                )
                session.add(row)
                session.flush()
                touch_case(session, case_id, now)
                return row.id
        except IntegrityError:
            return None

    @survives_reconnect
    def add_remediation_items(self, remediation_id: int, copies: Sequence[Any]) -> int:
        """Record the copies found (objects with network_message_id, recipient, internet_message_id, location)
        and move the remediation on to running, for whichever worker claims it next."""
        now = self._now()
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            if copies:
                session.execute(
                    insert(RemediationItemRow),
                    [
                        {
                            "remediation_id": remediation_id,
                            "network_message_id": c.network_message_id[:64],
                            "recipient": c.recipient[:320],
                            "internet_message_id": c.internet_message_id,
                            "location": (c.location or None) and c.location[:64],
                            "state": ItemState.PENDING,
                            "mailbox_message_id": getattr(c, "mailbox_message_id", None),
                            "detail": "",
                        }
                        for c in copies
                    ],
                )
            row.total = len(copies)
            row.state = RemediationState.RUNNING.value
            row.claimed_until = None
            row.claimed_by = None
            row.updated_at = now
            touch_case(session, row.case_id, now)
            return len(copies)

    def _remediation_runnable(self, now: At) -> ColumnElement[bool]:
        """Running and not held; or still looking for its copies, held by a worker that died (or overran)."""
        expired = (RemediationRow.claimed_until <= now) | self._orphaned(RemediationRow.claimed_by, now)
        return (
            (RemediationRow.state == RemediationState.RUNNING.value)
            & (RemediationRow.claimed_until.is_(None) | expired)
        ) | ((RemediationRow.state == RemediationState.FINDING.value) & expired)

    @survives_reconnect
    def due_remediations(self, now: datetime | None = None, limit: int = 20) -> list[int]:
        now = now or self._now()
        return self._due_ids(
            "remediations", RemediationRow.id, self._remediation_runnable, RemediationRow.id, limit, now
        )

    @survives_reconnect
    def claim_remediation(self, remediation_id: int, now: datetime | None = None) -> RemediationWork | None:
        """Claim a remediation for one worker (a lease, extended as it records progress): a running one, or one
        whose worker died while looking for its copies (its state says FINDING: look again)."""
        now = now or self._now()
        with self._session() as session:
            claimed = changed(
                session,
                update(RemediationRow)
                .where(RemediationRow.id == remediation_id)
                .where(self._remediation_runnable(now))
                .values(claimed_until=now + REMEDIATION_LEASE, claimed_by=self.worker_id),
            )
            if claimed != 1:
                return None
            return _remediation_work(row_of(session, RemediationRow, remediation_id))

    @survives_reconnect
    def remediation_work(self, remediation_id: int) -> RemediationWork:
        with self._session() as session:
            return _remediation_work(row_of(session, RemediationRow, remediation_id))

    @survives_reconnect
    def remediation_items(
        self, remediation_id: int, states: Sequence[str], limit: int | None = None
    ) -> list[ItemWork]:
        with self._session() as session:
            query = (
                select(RemediationItemRow)
                .where(RemediationItemRow.remediation_id == remediation_id)
                .where(RemediationItemRow.state.in_(list(states)))
                .order_by(RemediationItemRow.id)
            )
            if limit is not None:
                query = query.limit(limit)
            return [
                ItemWork(
                    item_id=i.id,
                    network_message_id=i.network_message_id,
                    recipient=i.recipient,
                    internet_message_id=i.internet_message_id,
                    location=i.location or "",
                    state=i.state,
                    mailbox_message_id=i.mailbox_message_id,
                )
                for i in session.scalars(query)
            ]

    @survives_reconnect
    def record_remediation_items(self, remediation_id: int, updates: Sequence[ItemUpdate]) -> None:
        """Store what happened to some copies; the counts on the card follow, and the lease is extended."""
        now = self._now()
        with self._session() as session:
            for item in updates:
                values: dict[str, Any] = {"state": item.state, "detail": item.detail[:500]}
                if item.mailbox_message_id is not None:
                    values["mailbox_message_id"] = item.mailbox_message_id
                if item.location is not None:
                    values["location"] = item.location[:64]
                changed(
                    session,
                    update(RemediationItemRow)
                    .where(RemediationItemRow.id == item.item_id)
                    .where(RemediationItemRow.remediation_id == remediation_id)
                    .values(**values),
                )
            row = row_of(session, RemediationRow, remediation_id)
            counts = dict(
                session.execute(
                    select(RemediationItemRow.state, func.count())
                    .where(RemediationItemRow.remediation_id == remediation_id)
                    .group_by(RemediationItemRow.state)
                ).all()
            )
            row.done_count = counts.get(ItemState.DONE, 0)
            row.failed_count = counts.get(ItemState.FAILED, 0)
            row.missing_count = counts.get(ItemState.MISSING, 0)
            row.updated_at = now
            if row.claimed_until is not None:
                row.claimed_until = now + REMEDIATION_LEASE
            touch_case(session, row.case_id, now)

    @survives_reconnect
    def add_action_center_url(self, remediation_id: int, url: str) -> None:
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            row.action_center_urls = [*(row.action_center_urls or []), url[:2000]]
            row.updated_at = self._now()
            touch_case(session, row.case_id, row.updated_at)

    @survives_reconnect
    def switch_remediation_method(self, remediation_id: int, method: str, reason: str) -> None:
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            row.method = method
            row.error = reason[:1000]
            row.updated_at = self._now()
            touch_case(session, row.case_id, row.updated_at)

    @survives_reconnect
    def remediation_submitted(
        self, remediation_id: int, *, next_check_at: datetime, give_up_at: datetime
    ) -> None:
        """Microsoft accepted every copy: from now on the delivery locations are read again until done."""
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            row.state = RemediationState.VERIFYING.value
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = next_check_at
            row.give_up_at = give_up_at
            row.updated_at = self._now()
            touch_case(session, row.case_id, row.updated_at)

    @survives_reconnect
    def release_remediation(self, remediation_id: int, retry_at: datetime, error: str | None = None) -> None:
        """Stop working on it for now (Graph is unwell, or shutting down); due again at `retry_at`."""
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            row.claimed_until = retry_at
            row.claimed_by = None  # not before retry_at, whoever is alive then
            if error is not None:
                row.error = error[:1000]
            row.updated_at = self._now()
            touch_case(session, row.case_id, row.updated_at)

    @survives_reconnect
    def finish_remediation(
        self,
        remediation_id: int,
        state: RemediationState,
        error: str | None = None,
        *,
        audit: AuditNote | None = None,
    ) -> bool:
        """End it (done, partial or failed) and free the case's slot, with its audit entry in the same
        transaction. False if it had already ended."""
        now = self._now()
        with self._session() as session:
            row = row_of(session, RemediationRow, remediation_id)
            if row.active_case_id is None:
                return False
            if audit is not None:
                session.add(audit_row(audit, row.case_id, now))
            row.state = state.value
            row.active_case_id = None
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = None
            row.finished_at = now
            row.updated_at = now
            if error is not None:
                row.error = error[:1000]
            touch_case(session, row.case_id, now)
            return True

    @survives_reconnect
    def claim_due_verifications(self, now: datetime | None = None, limit: int = 50) -> list[RemediationWork]:
        return self._lease_due(
            RemediationRow, RemediationState.VERIFYING.value, now or self._now(), limit, _remediation_work
        )

    @survives_reconnect
    def schedule_verification(self, remediation_id: int, next_check_at: datetime) -> None:
        with self._session() as session:
            changed(
                session,
                update(RemediationRow)
                .where(RemediationRow.id == remediation_id)
                .where(RemediationRow.state == RemediationState.VERIFYING.value)
                .values(next_check_at=next_check_at),
            )


def _remediation_work(row: RemediationRow) -> RemediationWork:
    return RemediationWork(
        remediation_id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        scope=row.scope,
        action=row.action,
        method=row.method,
        state=RemediationState(row.state),
        total=row.total,
        requested_by=row.requested_by,
        restores_id=row.restores_id,
        created_at=row.created_at,
        give_up_at=row.give_up_at,
    )
