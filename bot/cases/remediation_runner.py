"""Carrying a purge or restore through: finding the copies, Defender's remediate or the mailbox API, and the
verification rounds that follow — the half of remediation that runs after the click, and again from the sweep.

`Remediations` (bot/cases/remediation.py) takes the click; from then on the work is due work in the store (a
leased claim), so a restart or another replica picks it up where this process stopped: `run` carries a
remediation as far as it goes now, `verify` reads the copies' delivery locations again on the verdict schedule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.cases.schedule import poll_gap
from bot.domain import CaseView, RemediationState, RemediationView
from bot.microsoft import PERMANENT_DELETE, AuthError, Copy, GraphClient, GraphError, KqlValueError, hunting
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.lifecycle import Stopping
from bot.runtime.metrics import Metrics
from bot.slack.contract import ActionId
from bot.slack.notifier import SlackNotifier
from bot.store import (
    AuditDetails,
    AuditLog,
    AuditNote,
    AuditValue,
    Cases,
    ItemState,
    ItemUpdate,
    ItemWork,
    RemediationRecords,
    RemediationWork,
)

log = logging.getLogger(__name__)

PURGE, RESTORE = ActionId.PURGE, ActionId.RESTORE

# Microsoft's limits for a remediation (MicrosoftDocs/defender-docs defender-office-365/
# remediate-malicious-email-delivered-office-365.md, learn.microsoft.com/defender-office-365/
# remediate-malicious-email-delivered-office-365): "remediation should be done in batches of 50,000 or fewer",
# and when recipients are fewer than 40% of the messages, "the remediation can't be used to delete more than
# 1,000 messages that were sent to a single recipient".
REMEDIATE_BATCH = 50_000
RECIPIENT_SHARE = 0.4
PER_RECIPIENT = 1_000
MAILBOX_ROUND = 200  # copies per round of the mailbox API: progress is stored (and drawn) after each
RETRY_LATER = timedelta(minutes=1)
_DESTINATION = {
    "softDelete": "recoverableitemsdeletions",  # soft delete = Recoverable Items\Deletions, as Defender does
    "hardDelete": PERMANENT_DELETE,
    "moveToJunk": "junkemail",
    "moveToDeletedItems": "deleteditems",
    "moveToInbox": "inbox",
}


class RemediationRunner:
    def __init__(
        self,
        *,
        remediations: RemediationRecords,
        cases: Cases,
        audit: AuditLog,
        graph: GraphClient,
        notifier: SlackNotifier,
        purge_method: str,
        poll_schedule: Sequence[int],
        give_up_seconds: int,
        metrics: Metrics | None = None,
        stopping: Stopping | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._remediations = remediations
        self._cases = cases
        self._audit_log = audit
        self._graph = graph
        self._notifier = notifier
        self._purge_method = purge_method
        self._schedule = tuple(poll_schedule)
        self._give_up = timedelta(seconds=give_up_seconds)
        self._metrics = metrics
        self._stopping = stopping
        self._clock = clock if clock is not None else SystemClock()

    # --- the sweep's share (bot/cases/sweep.py lists the steps) -------------------------------------------

    def due(self, now: datetime) -> list[int]:
        """Remediations whose worker is gone, or whose retry time has come."""
        return self._remediations.due_remediations(now=now)

    def due_verifications(self, now: datetime) -> list[RemediationWork]:
        """Claimed: each is verified, or handed back with `verify_later`."""
        return self._remediations.claim_due_verifications(now=now)

    def verify_later(self, work: RemediationWork, now: datetime) -> None:
        self._remediations.schedule_verification(work.remediation_id, now)

    # --- carrying a remediation ---------------------------------------------------------------------------

    def look_for_copies(self, work: RemediationWork) -> str | None:
        """Find the copies a remediation acts on and record them (it runs next), or finish it when there is
        nothing to do. Returns what stopped the look-up, if something did."""
        if work.kind == "restore":
            copies: Sequence[Any] = (
                self._remediations.remediation_items(work.restores_id, [ItemState.DONE])
                if work.restores_id
                else []
            )
        else:
            try:
                copies = self.find(self._cases.case_view(work.case_id), work.scope)
            except (GraphError, KqlValueError) as exc:
                words = hunting_problem(exc)
                self._finish(
                    work.remediation_id, RemediationState.FAILED, f"Could not look for the copies: {words}"
                )
                return words
            self.remember_network_message_id(work.case_id, copies)
        if not copies:
            self._finish(work.remediation_id, RemediationState.DONE, "No mailbox holds a copy any more.")
            return None
        self._remediations.add_remediation_items(work.remediation_id, copies)
        if work.kind == "purge":
            self._audit(
                work,
                "found",
                {"copies": len(copies), "mailboxes": len({c.recipient.lower() for c in copies})},
            )
        self._notifier.sync_card(work.case_id)
        return None

    def run(self, remediation_id: int) -> None:
        """Carry a running remediation as far as it goes now (if no other worker holds it)."""
        work = self._remediations.claim_remediation(remediation_id, now=self._clock.now())
        if work is None:
            return
        if work.state is RemediationState.FINDING:
            # The worker that started it died looking for the copies (it never lets go of one otherwise).
            log.info("case %s: remediation %s resumed: looking for the copies", work.case_id, remediation_id)
            self.look_for_copies(work)
            self.run(remediation_id)
            return
        if self._clock.now() - work.created_at > self._give_up:
            # Graph kept failing for as long as a verdict is waited for: stop, and say what is left.
            left = self._remediations.remediation_items(work.remediation_id, [ItemState.PENDING])
            self._remediations.record_remediation_items(
                work.remediation_id, [ItemUpdate(i.item_id, ItemState.FAILED, detail="gave up") for i in left]
            )
            self._finish(
                work.remediation_id, RemediationState.PARTIAL, "Microsoft kept failing; phishbot gave up."
            )
            return
        try:
            if work.method == "mailbox":
                self._via_mailbox(work)
            else:
                self._via_defender(work)
        except AuthError as exc:
            self._remediations.release_remediation(
                work.remediation_id, self._clock.now() + RETRY_LATER, error=str(exc)
            )
            log.warning("case %s: remediation %s waits: %s", work.case_id, work.remediation_id, exc)
        finally:
            self._notifier.sync_card(work.case_id)

    # --- Defender ----------------------------------------------------------------------------------------------

    def _via_defender(self, work: RemediationWork) -> None:
        pending = self._remediations.remediation_items(work.remediation_id, [ItemState.PENDING])
        submitted_any = bool(
            self._remediations.remediation_items(work.remediation_id, [ItemState.SUBMITTED], limit=1)
        )
        for chunk in remediation_chunks(pending):
            if self._stopped():
                self._remediations.release_remediation(work.remediation_id, self._clock.now())
                return
            try:
                location = self._graph.remediate(
                    action=work.action,
                    pairs=[(i.network_message_id, i.recipient) for i in chunk],
                    display_name=f"phishbot case #{work.case_id}: {work.kind} ({work.scope})",
                    description=f"{work.kind} requested in Slack by {work.requested_by}, phishbot case #{work.case_id}",
                )
            except GraphError as exc:
                if exc.status == 403 and self._purge_method == "auto" and not submitted_any:
                    self._fall_back(work, exc)
                    return
                if exc.retryable:
                    self._remediations.release_remediation(
                        work.remediation_id, self._clock.now() + RETRY_LATER, error=str(exc)
                    )
                    self._audit(work, "retrying", {"reason": f"remediate: {exc}"})
                    return
                self._finish(work.remediation_id, RemediationState.FAILED, f"Microsoft refused: {exc}")
                return
            submitted_any = True
            self._remediations.record_remediation_items(
                work.remediation_id, [ItemUpdate(i.item_id, ItemState.SUBMITTED) for i in chunk]
            )
            if location:
                self._remediations.add_action_center_url(work.remediation_id, location)
            self._audit(work, "submitted", {"count": len(chunk), "action_center": location or None})
        now = self._clock.now()
        self._remediations.remediation_submitted(
            work.remediation_id,
            next_check_at=now + timedelta(seconds=poll_gap(self._schedule, checks_made=0)),
            give_up_at=now + self._give_up,
        )

    def _fall_back(self, work: RemediationWork, exc: GraphError) -> None:
        reason = (
            "Defender's remediate is not permitted here (403: no Defender for Office 365 Plan 2, or no "
            "SecurityAnalyzedMessage.ReadWrite.All); using the mailbox API instead."
        )
        log.info("case %s: %s (%s)", work.case_id, reason, exc)
        self._remediations.switch_remediation_method(work.remediation_id, "mailbox", reason)
        self._audit(work, "fallback", {"method": "mailbox", "reason": f"remediate answered 403: {exc}"})
        self._via_mailbox(self._remediations.remediation_work(work.remediation_id))

    def verify(self, work: RemediationWork) -> None:
        waiting = self._remediations.remediation_items(work.remediation_id, [ItemState.SUBMITTED])
        rows: list[dict] = []
        try:
            for query in hunting.locations_queries(i.network_message_id for i in waiting):
                rows.extend(self._graph.run_hunting_query(query))
        except GraphError as exc:
            log.warning("case %s: verification round failed: %s", work.case_id, exc)
            self._next_check_or_give_up(work, len(waiting), error=str(exc))
            return
        locations = hunting.locations_from_rows(rows)
        updates = []
        for item in waiting:
            location = locations.get((item.network_message_id.lower(), item.recipient.lower()))
            if location is None:
                continue
            done = hunting.is_done(work.action, location)
            updates.append(
                ItemUpdate(item.item_id, ItemState.DONE if done else ItemState.SUBMITTED, location=location)
            )
        if updates:
            self._remediations.record_remediation_items(work.remediation_id, updates)
        left = sum(1 for u in updates if u.state == ItemState.SUBMITTED) + (len(waiting) - len(updates))
        if left == 0:
            self._finish(work.remediation_id, RemediationState.DONE)
        else:
            self._next_check_or_give_up(work, left)
        self._notifier.sync_card(work.case_id)

    def _next_check_or_give_up(self, work: RemediationWork, left: int, error: str | None = None) -> None:
        now = self._clock.now()
        if work.give_up_at is not None and now >= work.give_up_at:
            self._finish(
                work.remediation_id,
                RemediationState.PARTIAL,
                f"{left} copies were still in place when phishbot stopped checking"
                + (f" ({error})" if error else ""),
            )
            return
        gap = poll_gap(self._schedule, elapsed_seconds=(now - work.created_at).total_seconds())
        due = now + timedelta(seconds=gap)
        if work.give_up_at is not None:
            due = min(due, work.give_up_at)
        self._remediations.schedule_verification(work.remediation_id, due)

    # --- the mailbox API ---------------------------------------------------------------------------------------

    def _via_mailbox(self, work: RemediationWork) -> None:
        destination = _DESTINATION[work.action]
        while True:
            if self._stopped():
                self._remediations.release_remediation(work.remediation_id, self._clock.now())
                return
            items = self._remediations.remediation_items(
                work.remediation_id, [ItemState.PENDING], limit=MAILBOX_ROUND
            )
            if not items:
                break
            try:
                updates, retry = self._mailbox_round(items, destination)
            except GraphError as exc:  # the envelope itself failed after its retries, or shutting down
                self._remediations.release_remediation(
                    work.remediation_id, self._clock.now() + RETRY_LATER, error=str(exc)
                )
                self._audit(work, "retrying", {"reason": f"mailbox API: {exc}"})
                return
            self._remediations.record_remediation_items(work.remediation_id, updates)
            self._notifier.sync_card(work.case_id)
            if retry:
                self._remediations.release_remediation(
                    work.remediation_id, self._clock.now() + RETRY_LATER, error=retry
                )
                self._audit(work, "retrying", {"reason": f"mailbox API: {retry}"})
                return
        view = self._view(work)
        state = RemediationState.DONE if view is None or view.failed == 0 else RemediationState.PARTIAL
        self._finish(work.remediation_id, state)

    def _mailbox_round(self, items: list[ItemWork], destination: str) -> tuple[list[ItemUpdate], str | None]:
        """Find and act on one round of copies. Returns the item updates and, if some must wait (Graph kept
        throttling them), why."""
        updates: list[ItemUpdate] = []
        retry: str | None = None
        to_find = [i for i in items if not i.mailbox_message_id]
        found = self._graph.find_mailbox_messages(
            [(str(i.item_id), i.recipient, i.internet_message_id) for i in to_find]
        )
        targets: dict[int, list[str]] = {
            i.item_id: [i.mailbox_message_id] for i in items if i.mailbox_message_id
        }
        for item in to_find:
            answer = found.get(str(item.item_id))
            if isinstance(answer, GraphError):
                if answer.retryable:
                    retry = str(answer)
                else:
                    updates.append(ItemUpdate(item.item_id, ItemState.FAILED, detail=str(answer)))
            elif not answer:
                updates.append(ItemUpdate(item.item_id, ItemState.MISSING, detail="not in the mailbox"))
            else:
                # Equal ids only: the mailbox search may be looser than the id the sender chose.
                same = [
                    m["id"] for m in answer if m.get("internetMessageId") in (None, item.internet_message_id)
                ]
                if same:
                    targets[item.item_id] = same
                else:
                    updates.append(ItemUpdate(item.item_id, ItemState.MISSING, detail="not in the mailbox"))
        by_item = {i.item_id: i for i in items}
        actions = [
            (f"{item_id}:{n}", by_item[item_id].recipient, message_id, destination)
            for item_id, message_ids in targets.items()
            for n, message_id in enumerate(message_ids)
        ]
        answers = self._graph.act_on_mailbox_messages(actions) if actions else {}
        for item_id, message_ids in targets.items():
            outcomes = [answers.get(f"{item_id}:{n}") for n in range(len(message_ids))]
            errors = [o for o in outcomes if isinstance(o, GraphError) and o.status != 404]
            if any(e.retryable for e in errors):
                retry = str(next(e for e in errors if e.retryable))
                continue
            if errors:
                updates.append(ItemUpdate(item_id, ItemState.FAILED, detail=str(errors[0])))
                continue
            moved = next((o.get("id") for o in outcomes if isinstance(o, dict) and o.get("id")), None)
            gone = [o for o in outcomes if isinstance(o, GraphError)]
            updates.append(
                ItemUpdate(
                    item_id,
                    ItemState.DONE,
                    detail="already gone" if gone and not moved else "",
                    mailbox_message_id=str(moved) if moved else None,
                )
            )
        return updates, retry

    # --- helpers -----------------------------------------------------------------------------------------------

    def find(self, view: CaseView, scope: str) -> list[Copy]:
        original = view.message.original if view.message else None
        message_id = original.message_id if original else None
        if not message_id:
            raise KqlValueError("this email has no Internet-Message-ID")
        query = hunting.copies_query(
            message_id,
            campaign=scope == "campaign",
            sender=original.sender_address if original else "",
            subject=original.subject if original else "",
        )
        return [c for c in hunting.copies_from_rows(self._graph.run_hunting_query(query)) if c.in_a_mailbox]

    def remember_network_message_id(self, case_id: int, copies: Sequence[Copy]) -> None:
        view = self._cases.case_view(case_id)
        message_id = view.message.original.message_id if view.message else None
        wanted = hunting.bracketed(message_id) if message_id else None
        reported = next((c for c in copies if c.internet_message_id == wanted), None)
        if reported is not None:
            self._cases.record_network_message_id(case_id, reported.network_message_id)

    def _view(self, work: RemediationWork) -> RemediationView | None:
        view = self._cases.case_view(work.case_id)
        return next((r for r in view.remediations if r.remediation_id == work.remediation_id), None)

    def _finish(self, remediation_id: int, state: RemediationState, error: str | None = None) -> None:
        work = self._remediations.remediation_work(remediation_id)
        view = self._view(work)
        method = view.method if view else work.method
        outcome = {RemediationState.DONE: "done", RemediationState.PARTIAL: "partial"}.get(state, "failed")
        details: dict[str, AuditValue] = {
            "remediation": remediation_id,
            "scope": work.scope,
            "action": work.action,
            "method": method,
        }
        if view is not None:
            details |= {
                "count": view.done,
                "of": view.total,
                "failed": view.failed,
                "missing": view.missing,
                "action_center": list(view.action_center_urls),
            }
        if error:
            details["reason"] = error
        action = PURGE if work.kind == "purge" else RESTORE
        if not self._remediations.finish_remediation(
            remediation_id, state, error, audit=AuditNote(work.requested_by, action, outcome, details)
        ):
            return
        if self._metrics is not None:
            self._metrics.remediation(method, outcome)
        self._notifier.sync_card(work.case_id)

    def _audit(self, work: RemediationWork, outcome: str, details: AuditDetails) -> None:
        self._audit_log.record(
            work.requested_by,
            PURGE if work.kind == "purge" else RESTORE,
            outcome,
            case_id=work.case_id,
            details={
                "remediation": work.remediation_id,
                "scope": work.scope,
                "action": work.action,
                **details,
            },
        )

    def _stopped(self) -> bool:
        return self._stopping is not None and self._stopping.is_set()


# --- pure helpers --------------------------------------------------------------------------------------------


def remediation_chunks(items: Sequence[Any]) -> list[list[Any]]:
    """Split copies (objects with `.recipient`) into remediate calls within Microsoft's limits."""
    items = list(items)
    if not items:
        return []
    recipients: dict[str, list[Any]] = {}
    for item in items:
        recipients.setdefault(item.recipient.lower(), []).append(item)
    if len(recipients) >= RECIPIENT_SHARE * len(items):
        rounds = [items]
    else:
        rounds = []
        while any(recipients.values()):
            taken: list[Any] = []
            for queue in recipients.values():
                taken.extend(queue[:PER_RECIPIENT])
                del queue[:PER_RECIPIENT]
            rounds.append(taken)
    return [r[start : start + REMEDIATE_BATCH] for r in rounds for start in range(0, len(r), REMEDIATE_BATCH)]


def hunting_problem(exc: Exception) -> str:
    if isinstance(exc, KqlValueError):
        return f"The message cannot be looked up: {exc}."
    if isinstance(exc, GraphError) and exc.status == 403:
        return (
            "Advanced hunting is not permitted (the app needs ThreatHunting.Read.All, and the tenant Defender "
            "for Office 365 Plan 2 for the email tables)."
        )
    return str(exc)
