"""Block: put what a phish carries (sender, URLs, files) on the Tenant Allow/Block List, so the next copy never
arrives.

Graph's only way is an email submission carrying `tenantAllowOrBlockListAction {action: block, expirationDateTime,
note}` (beta emailThreatSubmission); Microsoft then reports the entries it made or skipped in
`tenantAllowOrBlockListAction.results[]`, read here on the verdict schedule. Microsoft accepts the same item
"once per 15 minutes" and "three times per 24 hours" (Submissions page, defender-office-365/submissions-admin.md):
the bot counts every submission of the message it made (verdict submissions and blocks alike) and, when a block
must wait, stores it with the time it may go and tells the responder — the sweep sends it then, restarts
included. `PHISHBOT_AUTO_BLOCK` blocks once on a final verdict of those categories, never for a simulation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cases.schedule import poll_gap
from bot.domain import CaseKind, CaseStatus, CaseView, Verdict
from bot.microsoft import AuthError, GraphClient, GraphError
from bot.runtime.clock import Clock, SystemClock
from bot.slack import cards
from bot.slack.contract import ActionId
from bot.slack.notifier import SlackNotifier
from bot.store import AuditDetails, AuditLog, AuditNote, BlockCheckWork, BlockRequests, BlockState, Cases

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

BLOCK = ActionId.BLOCK
SAME_ITEM_GAP = timedelta(minutes=15)
SAME_ITEM_WINDOW = timedelta(hours=24)
SAME_ITEM_PER_WINDOW = 3
AUTO_BLOCK_DAYS = 30
RETRY_LATER = timedelta(minutes=2)
_BLOCKABLE_CATEGORIES = ("phishing", "malware", "spam")


def next_allowed(sent: Sequence[datetime], now: datetime, *, gap: timedelta = SAME_ITEM_GAP) -> datetime:
    """The earliest time Microsoft accepts another submission of an item sent at `sent`: at least `gap` after
    the last one, and no fourth within 24 hours."""
    recent = sorted(t for t in sent if now - t < SAME_ITEM_WINDOW)
    due = now
    if recent:
        due = max(due, recent[-1] + gap)
    if len(recent) >= SAME_ITEM_PER_WINDOW:
        due = max(due, recent[-SAME_ITEM_PER_WINDOW] + SAME_ITEM_WINDOW)
    return due


class BlockList:
    def __init__(
        self,
        *,
        block_requests: BlockRequests,
        cases: Cases,
        audit: AuditLog,
        graph: GraphClient,
        notifier: SlackNotifier,
        slack: WebClient,
        poll_schedule: Sequence[int],
        give_up_seconds: int,
        auto_block: Sequence[str] = (),
        same_item_gap: timedelta = SAME_ITEM_GAP,
        clock: Clock | None = None,
    ) -> None:
        self._block_requests = block_requests
        self._cases = cases
        self._audit_log = audit
        self._graph = graph
        self._notifier = notifier
        self._slack = slack
        self._schedule = tuple(poll_schedule)
        self._give_up = timedelta(seconds=give_up_seconds)
        self._auto = tuple(auto_block)
        self._gap = same_item_gap
        self._clock = clock if clock is not None else SystemClock()

    # --- from Slack (after CaseActions.run authorized and audited the click) ------------------------------

    def open_modal(self, user_id: str, case_id: int, trigger_id: str, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        refusal = self._refusal(view)
        if refusal:
            self._refuse(user_id, case_id, refusal, reply)
            return
        now = self._clock.now()
        times = self._block_requests.submission_times(case_id)
        modal = cards.block_modal(
            view,
            sends_in_24h=sum(1 for t in times if now - t < SAME_ITEM_WINDOW),
            goes_at=next_allowed(times, now, gap=self._gap),
            now=now,
        )
        try:
            self._slack.views_open(trigger_id=trigger_id, view=modal)
        except SlackApiError as exc:
            reply(
                *cards.notice(
                    f"The block form did not open ({exc.response.get('error')}): click Block again."
                )
            )

    def block(self, user_id: str, case_id: int, expires_days: int, note: str, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        refusal = self._refusal(view)
        if refusal:
            self._refuse(user_id, case_id, refusal, reply)
            return
        now = self._clock.now()
        times = self._block_requests.submission_times(case_id)
        goes_at = next_allowed(times, now, gap=self._gap)
        block_id = self._block_requests.queue_block(
            case_id, user_id, expires_days=expires_days, note=note, not_before=goes_at
        )
        if block_id is None:
            self._refuse(user_id, case_id, self._waiting_words(case_id), reply)
            return
        later = goes_at > now + timedelta(seconds=1)
        self._audit_log.record(
            user_id,
            BLOCK,
            "scheduled" if later else "queued",
            case_id=case_id,
            details={
                "block": block_id,
                "expires_days": expires_days,
                "not_before": goes_at.isoformat(),
                "sent_in_24h": sum(1 for t in times if now - t < SAME_ITEM_WINDOW),
            },
        )
        self._notifier.sync_card(case_id)
        if later:
            reply(
                *cards.notice(
                    "Microsoft accepts the same message once per 15 minutes and three times per 24 hours, and "
                    f"phishbot has sent this one {len([t for t in times if now - t < SAME_ITEM_WINDOW])} "
                    f"times in the last 24 hours. The block is scheduled: it will be sent at "
                    f"{goes_at:%Y-%m-%d %H:%M} UTC."
                )
            )
            return
        self.send(block_id)

    # --- due work -----------------------------------------------------------------------------------------

    def due(self, now: datetime) -> list[int]:
        """Blocks whose time has come (Microsoft's limit passed, or a retry)."""
        return self._block_requests.due_blocks(now=now)

    def auto_block(self, now: datetime) -> None:
        """Queue a block for each case whose final verdict PHISHBOT_AUTO_BLOCK names (once per case)."""
        if not self._auto:
            return
        for case_id, verdict in self._block_requests.auto_block_candidates(self._auto):
            reason = _auto_block_refusal(verdict, self._auto)
            if reason:
                if self._block_requests.skip_auto_block(case_id, reason):
                    self._audit_log.record(
                        "phishbot",
                        BLOCK,
                        "skipped",
                        case_id=case_id,
                        details={"automatic": True, "reason": reason},
                    )
                continue
            goes_at = next_allowed(self._block_requests.submission_times(case_id), now, gap=self._gap)
            block_id = self._block_requests.queue_block(
                case_id,
                "phishbot",
                expires_days=AUTO_BLOCK_DAYS,
                note=f"phishbot: Microsoft's verdict was {verdict.category} (PHISHBOT_AUTO_BLOCK)",
                not_before=goes_at,
                automatic=True,
            )
            if block_id is not None:
                self._audit_log.record(
                    "phishbot",
                    BLOCK,
                    "scheduled",
                    case_id=case_id,
                    details={
                        "block": block_id,
                        "automatic": True,
                        "verdict": verdict.category,
                        "expires_days": AUTO_BLOCK_DAYS,
                        "not_before": goes_at.isoformat(),
                    },
                )
                self._notifier.sync_card(case_id)

    def send(self, block_id: int) -> None:
        work = self._block_requests.claim_block_send(block_id, now=self._clock.now())
        if work is None:
            return
        try:
            if work.case_dismissed:
                self._block_requests.record_block_failure(
                    block_id, "The case was dismissed before the block went out."
                )
                self._audit(
                    work.requested_by,
                    work.case_id,
                    "cancelled",
                    {"block": block_id, "reason": "case dismissed"},
                )
                return
            now = self._clock.now()
            goes_at = next_allowed(
                self._block_requests.submission_times(work.case_id, block_id), now, gap=self._gap
            )
            if goes_at > now + timedelta(seconds=1):
                # Another submission of the message went out meanwhile (a resubmission, a second replica).
                self._block_requests.reschedule_block(block_id, goes_at, "waiting for Microsoft's limit")
                return
            if not work.raw or not work.recipient:
                self._block_requests.record_block_failure(
                    block_id, "phishbot no longer has the reported message to send with the block."
                )
                return
            category = work.category if work.category in _BLOCKABLE_CATEGORIES else "phishing"
            try:
                created = self._graph.submit_email(
                    raw_mime=work.raw,
                    recipient=work.recipient,
                    category=category,
                    block_until=now + timedelta(days=work.expires_days),
                    block_note=work.note or f"phishbot case #{work.case_id}",
                )
            except AuthError as exc:
                self._block_requests.reschedule_block(block_id, now + RETRY_LATER, str(exc))
                return
            except GraphError as exc:
                if exc.retryable:
                    wait = timedelta(seconds=exc.retry_after) if exc.retry_after else RETRY_LATER
                    self._block_requests.reschedule_block(block_id, now + max(wait, RETRY_LATER), str(exc))
                    self._audit(
                        work.requested_by, work.case_id, "retrying", {"block": block_id, "reason": str(exc)}
                    )
                    return
                self._block_requests.record_block_failure(block_id, f"Microsoft refused the block: {exc}")
                self._audit(
                    work.requested_by, work.case_id, "failed", {"block": block_id, "reason": str(exc)}
                )
                return
            microsoft_id = str(created.get("id") or "")
            self._block_requests.record_block_sent(
                block_id, microsoft_id, now + timedelta(seconds=poll_gap(self._schedule, checks_made=0))
            )
            self._audit(
                work.requested_by,
                work.case_id,
                "sent",
                {
                    "block": block_id,
                    "submission": microsoft_id,
                    "expires_days": work.expires_days,
                    "automatic": work.automatic,
                },
            )
        finally:
            self._notifier.sync_card(work.case_id)

    def check_due(self, now: datetime | None = None) -> None:
        """Read what Microsoft made of every block whose result is due."""
        work = self._block_requests.claim_due_block_checks(now=now or self._clock.now())
        if not work:
            return
        try:
            answers = self._graph.read_submissions([("email", w.microsoft_id) for w in work])
        except GraphError as exc:
            answers = {w.microsoft_id: exc for w in work}
        for item in work:
            answer = answers.get(item.microsoft_id)
            self._record(item, answer if isinstance(answer, dict) else None, answer)

    def _record(self, item: BlockCheckWork, submission: dict | None, answer: Any) -> None:
        now = self._clock.now()
        results = None
        finished = None
        if submission is not None:
            action = submission.get("tenantAllowOrBlockListAction")
            raw = action.get("results") if isinstance(action, dict) else None
            results = [r for r in raw or [] if isinstance(r, dict)][:200]
            if Verdict.from_graph(submission).is_final:
                finished = BlockState.DONE
        if finished is None and now - item.sent_at >= self._give_up:
            finished = BlockState.GAVE_UP
        gap = poll_gap(self._schedule, checks_made=item.checks_done + 1)
        error = None if submission is not None else str(answer or "no answer for this submission")
        created = [r for r in results or [] if r.get("status") == "succeeded"]
        skipped = [r for r in results or [] if r.get("status") == "skipped"]
        details: AuditDetails = {
            "block": item.block_id,
            "count": len(created),
            "skipped": len(skipped),
            "entries": [f"{r.get('entryType')}={r.get('value')}:{r.get('status')}" for r in results or []],
        }
        self._block_requests.record_block_check(
            item.block_id,
            results,
            finished=finished,
            next_check_at=now + timedelta(seconds=gap),
            error=error,
            audit=AuditNote("phishbot", BLOCK, "done" if finished == BlockState.DONE else "gave_up", details),
        )
        self._notifier.sync_card(item.case_id)

    # --- helpers ----------------------------------------------------------------------------------------------

    def _refusal(self, view: CaseView) -> str | None:
        if view.kind != CaseKind.EMAIL or view.message is None:
            return (
                "Block works on reported emails: Microsoft blocks a link only through an email submission, and "
                "this case is a link."
            )
        if view.status == CaseStatus.DISMISSED:
            return "This case was dismissed as not a threat."
        if view.verdict is not None and view.verdict.is_simulation:
            return (
                "Microsoft says this is a phishing simulation run by your organisation: blocking its sender and "
                "links would break the training. Block is off for this case."
            )
        pending = next(
            (b for b in view.blocks if b.state in (BlockState.SCHEDULED, BlockState.SENDING)), None
        )
        if pending is not None:
            return self._waiting_words(view.case_id)
        return None

    def _waiting_words(self, case_id: int) -> str:
        view = self._cases.case_view(case_id)
        pending = next(
            (b for b in view.blocks if b.state in (BlockState.SCHEDULED, BlockState.SENDING)), None
        )
        if pending is None:
            return "A block of this case has just been requested."
        return (
            f"A block of this case requested by {pending.requested_by} is already waiting; it will be sent at "
            f"{pending.not_before:%Y-%m-%d %H:%M} UTC."
        )

    def _refuse(self, user_id: str, case_id: int, reason: str, reply: Reply) -> None:
        self._audit_log.record(user_id, BLOCK, "refused", case_id=case_id, details={"reason": reason})
        reply(*cards.notice(reason))

    def _audit(self, actor: str, case_id: int, outcome: str, details: AuditDetails) -> None:
        self._audit_log.record(actor, BLOCK, outcome, case_id=case_id, details=details)


def _auto_block_refusal(verdict: Verdict, categories: Sequence[str]) -> str | None:
    if verdict.is_simulation:
        return "Microsoft says this is a phishing simulation; simulations are never blocked."
    if not verdict.is_final or verdict.category not in categories:
        return f"the latest verdict ({verdict.category or 'none'}) is not one PHISHBOT_AUTO_BLOCK names"
    return None
