"""Purge, Restore and Who clicked: acting on the copies of a reported message in every mailbox.

Every entry point here runs after `CaseActions.run` has authorized the responder (fail-closed) and audited the
click. Then the safety rails: an email case with an Internet-Message-ID, not a phishing simulation, and one
remediation per case at a time — the store's unique `active_case_id` decides, so two clicks 50 ms apart (or on
two replicas) make one remediation. Every step is audited with actor, scope, action, counts and result.

How a purge runs:
1. Copies are found with advanced hunting (EmailEvents; the campaign adds EmailUrlInfo), as (NetworkMessageId,
   recipient) pairs — exactly what Defender's remediate takes. They are stored as items of the remediation.
2. Defender (`analyzedEmails/remediate`), split to Microsoft's limits; each answer's `Location` is the Action
   center link. Microsoft gives no status resource, so the sweep reads the copies' delivery locations again on
   the verdict schedule and the card says "N of M removed" until all are done or the give-up time passes.
3. Without Defender Plan 2 (remediate answers 403, with PHISHBOT_PURGE_METHOD=auto) or with
   PHISHBOT_PURGE_METHOD=mailbox: the mailbox API finds each copy by Internet-Message-ID and moves or deletes
   it, in `$batch` envelopes with at most four requests per mailbox; progress is stored round by round.
The work itself is due work in the store (a leased claim), so a restart or another replica picks it up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import CaseKind, CaseStatus, CaseView, RemediationState, RemediationView
from bot.microsoft import hunting
from bot.microsoft.graph import PERMANENT_DELETE, AuthError, GraphClient, GraphError
from bot.microsoft.hunting import Copy, KqlValueError
from bot.slack import cards
from bot.slack.notifier import SlackNotifier
from bot.store import (
    AuditDetails,
    AuditLog,
    AuditNote,
    AuditValue,
    CardPosts,
    Cases,
    ItemState,
    ItemUpdate,
    ItemWork,
    RemediationRecords,
    RemediationWork,
)

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

PURGE = "report.purge"
RESTORE = "report.restore"
WHO_CLICKED = "report.who_clicked"
PURGE_ACTIONS = ("softDelete", "hardDelete", "moveToJunk", "moveToDeletedItems")
SCOPES = ("message", "campaign")

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


class Remediations:
    def __init__(
        self,
        *,
        remediations: RemediationRecords,
        cases: Cases,
        card_posts: CardPosts,
        audit: AuditLog,
        graph: GraphClient,
        notifier: SlackNotifier,
        slack: WebClient,
        purge_method: str,
        poll_schedule: Sequence[int],
        give_up_seconds: int,
        metrics: Any = None,
        stopping: Any = None,
    ) -> None:
        self._remediations = remediations
        self._cases = cases
        self._card_posts = card_posts
        self._audit_log = audit
        self._graph = graph
        self._notifier = notifier
        self._slack = slack
        self._purge_method = purge_method
        self._schedule = tuple(poll_schedule)
        self._give_up = timedelta(seconds=give_up_seconds)
        self._metrics = metrics
        self._stopping = stopping
        self._sweep_lock = threading.Lock()

    # --- Purge: the modal ---------------------------------------------------------------------------------

    def open_purge_modal(self, user_id: str, case_id: int, trigger_id: str, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        refusal = self._refusal(view, PURGE)
        if refusal:
            self._refuse(user_id, PURGE, case_id, refusal, reply)
            return
        # The trigger lives three seconds: open at once, count the copies after.
        try:
            opened = self._slack.views_open(trigger_id=trigger_id, view=cards.purge_modal_loading(case_id))
        except SlackApiError as exc:
            reply(
                *cards.notice(
                    f"The purge form did not open ({exc.response.get('error')}): click Purge again."
                )
            )
            return
        modal = opened["view"]
        try:
            found = self._find(view, "message")
            campaign = self._find(view, "campaign")
        except (GraphError, KqlValueError) as exc:
            words = _hunting_problem(exc)
            self._audit_log.record(
                user_id, PURGE, "failed", case_id=case_id, details={"reason": f"looking for copies: {words}"}
            )
            self._update_modal(modal, cards.purge_modal_problem(case_id, words))
            return
        self._remember_network_message_id(case_id, found)
        method = "mailbox" if self._purge_method == "mailbox" else self._purge_method
        self._update_modal(
            modal,
            cards.purge_modal(
                view, message_copies=_summary(found), campaign_copies=_summary(campaign), method=method
            ),
        )

    def _update_modal(self, modal: dict, view: dict) -> None:
        try:
            self._slack.views_update(view_id=modal["id"], hash=modal.get("hash"), view=view)
        except SlackApiError as exc:
            # Closed by the person, or already submitted: nothing to show any more.
            log.info("purge modal not updated: %s", exc.response.get("error"))

    # --- Purge: the submission ----------------------------------------------------------------------------

    def purge(self, user_id: str, case_id: int, scope: str, action: str, reply: Reply) -> None:
        if scope not in SCOPES or action not in PURGE_ACTIONS:
            self._refuse(user_id, PURGE, case_id, "That is not a purge phishbot knows.", reply)
            return
        view = self._cases.case_view(case_id)
        refusal = self._refusal(view, PURGE)
        if refusal:
            self._refuse(user_id, PURGE, case_id, refusal, reply)
            return
        method = "mailbox" if self._purge_method == "mailbox" else "defender"
        remediation_id = self._remediations.start_remediation(
            case_id, kind="purge", scope=scope, action=action, method=method, actor=user_id
        )
        if remediation_id is None:
            self._refuse(user_id, PURGE, case_id, self._running_words(case_id), reply)
            return
        self._audit_log.record(
            user_id,
            PURGE,
            "started",
            case_id=case_id,
            details={"remediation": remediation_id, "scope": scope, "action": action, "method": method},
        )
        problem = self._look_for_copies(self._remediations.remediation_work(remediation_id))
        if problem:
            reply(*cards.notice(f"Purge stopped: could not look for the copies. {problem}"))
            return
        self.run(remediation_id)

    def _look_for_copies(self, work: RemediationWork) -> str | None:
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
                copies = self._find(self._cases.case_view(work.case_id), work.scope)
            except (GraphError, KqlValueError) as exc:
                words = _hunting_problem(exc)
                self._finish(
                    work.remediation_id, RemediationState.FAILED, f"Could not look for the copies: {words}"
                )
                return words
            self._remember_network_message_id(work.case_id, copies)
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

    # --- Restore ------------------------------------------------------------------------------------------

    def restore(self, user_id: str, case_id: int, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        purge = cards.restorable_purge(view)
        latest = view.remediation
        refusal = None
        if view.active_remediation is not None:
            refusal = self._running_words(case_id)
        elif latest is not None and latest.kind == "purge" and latest.action == "hardDelete":
            refusal = (
                "Hard-deleted copies cannot be moved back from here; an Exchange admin can recover them with "
                "single item recovery."
            )
        elif purge is None:
            refusal = "There is no finished purge of this case to restore."
        if refusal or purge is None:
            self._refuse(user_id, RESTORE, case_id, refusal or "Nothing to restore.", reply)
            return
        method = "mailbox" if self._purge_method == "mailbox" or purge.method == "mailbox" else "defender"
        remediation_id = self._remediations.start_remediation(
            case_id,
            kind="restore",
            scope=purge.scope,
            action="moveToInbox",
            method=method,
            actor=user_id,
            restores_id=purge.remediation_id,
        )
        if remediation_id is None:
            self._refuse(user_id, RESTORE, case_id, self._running_words(case_id), reply)
            return
        copies = self._remediations.remediation_items(purge.remediation_id, [ItemState.DONE])
        self._audit_log.record(
            user_id,
            RESTORE,
            "started",
            case_id=case_id,
            details={
                "remediation": remediation_id,
                "restores": purge.remediation_id,
                "scope": purge.scope,
                "action": "moveToInbox",
                "method": method,
                "copies": len(copies),
            },
        )
        self._look_for_copies(self._remediations.remediation_work(remediation_id))
        self.run(remediation_id)

    # --- Who clicked --------------------------------------------------------------------------------------

    def who_clicked(self, user_id: str, case_id: int, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        message_id, urls = _what_to_look_for(view)
        try:
            query = hunting.clicks_query(message_id, urls)
            clicks = hunting.clicks_from_rows(self._graph.run_hunting_query(query))
        except (GraphError, KqlValueError) as exc:
            words = _hunting_problem(exc)
            self._audit_log.record(user_id, WHO_CLICKED, "failed", case_id=case_id, details={"reason": words})
            reply(*cards.notice(f"Could not look for clicks: {words}"))
            return
        people = self._slack_people({c.user for c in clicks if c.user})
        text, blocks = cards.who_clicked(case_id, clicks, people)
        location = self._card_posts.card_location(case_id)
        posted = False
        if location is not None:
            try:
                self._slack.chat_postMessage(
                    channel=location[0],
                    thread_ts=location[1],
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                posted = True
            except SlackApiError as exc:
                log.warning(
                    "case %s: clicks not posted in the thread: %s", case_id, exc.response.get("error")
                )
        if not posted:
            reply(text, blocks)
        through = {c.user.lower() for c in clicks if c.clicked_through}
        self._audit_log.record(
            user_id,
            WHO_CLICKED,
            "done",
            case_id=case_id,
            details={
                "count": len(clicks),
                "people": len({c.user.lower() for c in clicks}),
                "clicked_through": len(through),
            },
        )

    def _slack_people(self, addresses: set[str]) -> dict[str, str]:
        """UPN -> Slack user id, for the people Slack knows by that address (at most 25 look-ups)."""
        people = {}
        for address in sorted(addresses)[:25]:
            try:
                user = self._slack.users_lookupByEmail(email=address).get("user") or {}
            except SlackApiError:
                continue
            if user.get("id"):
                people[address.lower()] = str(user["id"])
        return people

    # --- due work -----------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """The scheduler's share: remediations whose worker is gone, and verifications that are due."""
        if not self._sweep_lock.acquire(blocking=False):
            return
        try:
            for remediation_id in self._remediations.due_remediations():
                if self._stopped():
                    return
                self.run(remediation_id)
            for work in self._remediations.claim_due_verifications():
                if self._stopped():
                    self._remediations.schedule_verification(work.remediation_id, _now())
                    continue
                self._verify(work)
        finally:
            self._sweep_lock.release()

    def run(self, remediation_id: int) -> None:
        """Carry a running remediation as far as it goes now (if no other worker holds it)."""
        work = self._remediations.claim_remediation(remediation_id)
        if work is None:
            return
        if work.state is RemediationState.FINDING:
            # The worker that started it died looking for the copies (it never lets go of one otherwise).
            log.info("case %s: remediation %s resumed: looking for the copies", work.case_id, remediation_id)
            self._look_for_copies(work)
            self.run(remediation_id)
            return
        if _now() - work.created_at > self._give_up:
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
            self._remediations.release_remediation(work.remediation_id, _now() + RETRY_LATER, error=str(exc))
            log.warning("case %s: remediation %s waits: %s", work.case_id, work.remediation_id, exc)
        finally:
            self._notifier.sync_card(work.case_id)

    # --- Defender ---------------------------------------------------------------------------------------

    def _via_defender(self, work: RemediationWork) -> None:
        pending = self._remediations.remediation_items(work.remediation_id, [ItemState.PENDING])
        submitted_any = bool(
            self._remediations.remediation_items(work.remediation_id, [ItemState.SUBMITTED], limit=1)
        )
        for chunk in remediation_chunks(pending):
            if self._stopped():
                self._remediations.release_remediation(work.remediation_id, _now())
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
                        work.remediation_id, _now() + RETRY_LATER, error=str(exc)
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
        now = _now()
        self._remediations.remediation_submitted(
            work.remediation_id,
            next_check_at=now + timedelta(seconds=self._schedule[0]),
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

    def _verify(self, work: RemediationWork) -> None:
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
        now = _now()
        if work.give_up_at is not None and now >= work.give_up_at:
            self._finish(
                work.remediation_id,
                RemediationState.PARTIAL,
                f"{left} copies were still in place when phishbot stopped checking"
                + (f" ({error})" if error else ""),
            )
            return
        gap = _gap(self._schedule, (now - work.created_at).total_seconds())
        due = now + timedelta(seconds=gap)
        if work.give_up_at is not None:
            due = min(due, work.give_up_at)
        self._remediations.schedule_verification(work.remediation_id, due)

    # --- the mailbox API -------------------------------------------------------------------------------------

    def _via_mailbox(self, work: RemediationWork) -> None:
        destination = _DESTINATION[work.action]
        while True:
            if self._stopped():
                self._remediations.release_remediation(work.remediation_id, _now())
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
                    work.remediation_id, _now() + RETRY_LATER, error=str(exc)
                )
                self._audit(work, "retrying", {"reason": f"mailbox API: {exc}"})
                return
            self._remediations.record_remediation_items(work.remediation_id, updates)
            self._notifier.sync_card(work.case_id)
            if retry:
                self._remediations.release_remediation(work.remediation_id, _now() + RETRY_LATER, error=retry)
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

    # --- helpers ----------------------------------------------------------------------------------------------

    def _find(self, view: CaseView, scope: str) -> list[Copy]:
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

    def _remember_network_message_id(self, case_id: int, copies: Sequence[Copy]) -> None:
        view = self._cases.case_view(case_id)
        message_id = view.message.original.message_id if view.message else None
        wanted = hunting.bracketed(message_id) if message_id else None
        reported = next((c for c in copies if c.internet_message_id == wanted), None)
        if reported is not None:
            self._cases.record_network_message_id(case_id, reported.network_message_id)

    def _refusal(self, view: CaseView, action: str) -> str | None:
        if view.kind != CaseKind.EMAIL or view.message is None:
            return "Purge works on reported emails; this case is a link."
        if view.status == CaseStatus.DISMISSED:
            return "This case was dismissed as not a threat."
        if view.verdict is not None and view.verdict.is_simulation:
            return (
                "Microsoft says this is a phishing simulation run by your organisation: purging it would take "
                "the training away from the people it was sent to. Purge is off for this case."
            )
        if not view.message.original.message_id:
            return "This email has no Internet-Message-ID, so its copies cannot be looked up."
        if view.active_remediation is not None:
            return self._running_words(view.case_id)
        return None

    def _running_words(self, case_id: int) -> str:
        running = self._cases.case_view(case_id).active_remediation
        if running is None:
            return "Another purge or restore of this case has just started."
        return "Already running: " + cards.remediation_line(running, plain=True)

    def _refuse(self, user_id: str, action: str, case_id: int, reason: str, reply: Reply) -> None:
        self._audit_log.record(user_id, action, "refused", case_id=case_id, details={"reason": reason})
        reply(*cards.notice(reason))

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


def _summary(copies: Sequence[Copy]) -> tuple[int, int]:
    return len(copies), len({c.recipient.lower() for c in copies})


def _what_to_look_for(view: CaseView) -> tuple[str | None, list[str]]:
    if view.kind == CaseKind.URL:
        return None, [view.url] if view.url else []
    original = view.message.original if view.message else None
    return (original.message_id if original else None), list(original.urls if original else ())


def _hunting_problem(exc: Exception) -> str:
    if isinstance(exc, KqlValueError):
        return f"The message cannot be looked up: {exc}."
    if isinstance(exc, GraphError) and exc.status == 403:
        return (
            "Advanced hunting is not permitted (the app needs ThreatHunting.Read.All, and the tenant Defender "
            "for Office 365 Plan 2 for the email tables)."
        )
    return str(exc)


def _gap(schedule: Sequence[int], elapsed: float) -> int:
    """The verdict schedule's gap for a check `elapsed` seconds after the start (the last gap repeats)."""
    total = 0
    for gap in schedule:
        total += gap
        if elapsed < total:
            return gap
    return schedule[-1]


def _now() -> datetime:
    return datetime.now(UTC)
