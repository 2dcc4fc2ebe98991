"""Purge, Restore and Who clicked: the responder's side of acting on the copies of a reported message.

Every entry point here runs after `CaseActions.run` has authorized the responder (fail-closed) and audited the
click. Then the safety rails: an email case with an Internet-Message-ID, not a phishing simulation, and one
remediation per case at a time — the store's unique `active_case_id` decides, so two clicks 50 ms apart (or on
two replicas) make one remediation. Every step is audited with actor, scope, action, counts and result.

How a purge runs (the work after the click is `RemediationRunner`'s, bot/cases/remediation_runner.py):
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
from collections.abc import Callable, Sequence

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cases.remediation_runner import PURGE, RESTORE, RemediationRunner, hunting_problem
from bot.domain import CaseKind, CaseStatus, CaseView
from bot.microsoft import Copy, GraphClient, GraphError, KqlValueError, hunting
from bot.slack import cards
from bot.slack.contract import ActionId
from bot.store import AuditLog, CardPosts, Cases, ItemState, RemediationRecords

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

WHO_CLICKED = ActionId.WHO_CLICKED
PURGE_ACTIONS = ("softDelete", "hardDelete", "moveToJunk", "moveToDeletedItems")
SCOPES = ("message", "campaign")


class Remediations:
    def __init__(
        self,
        *,
        remediations: RemediationRecords,
        cases: Cases,
        card_posts: CardPosts,
        audit: AuditLog,
        graph: GraphClient,
        slack: WebClient,
        runner: RemediationRunner,
        purge_method: str,
    ) -> None:
        self._remediations = remediations
        self._cases = cases
        self._card_posts = card_posts
        self._audit_log = audit
        self._graph = graph
        self._slack = slack
        self._runner = runner
        self._purge_method = purge_method

    # --- Purge: the modal --------------------------------------------------------------------------------------

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
            found = self._runner.find(view, "message")
            campaign = self._runner.find(view, "campaign")
        except (GraphError, KqlValueError) as exc:
            words = hunting_problem(exc)
            self._audit_log.record(
                user_id, PURGE, "failed", case_id=case_id, details={"reason": f"looking for copies: {words}"}
            )
            self._update_modal(modal, cards.purge_modal_problem(case_id, words))
            return
        self._runner.remember_network_message_id(case_id, found)
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

    # --- Purge: the submission ---------------------------------------------------------------------------------

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
        problem = self._runner.look_for_copies(self._remediations.remediation_work(remediation_id))
        if problem:
            reply(*cards.notice(f"Purge stopped: could not look for the copies. {problem}"))
            return
        self._runner.run(remediation_id)

    # --- Restore -----------------------------------------------------------------------------------------------

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
        self._runner.look_for_copies(self._remediations.remediation_work(remediation_id))
        self._runner.run(remediation_id)

    # --- Who clicked -------------------------------------------------------------------------------------------

    def who_clicked(self, user_id: str, case_id: int, reply: Reply) -> None:
        view = self._cases.case_view(case_id)
        message_id, urls = _what_to_look_for(view)
        try:
            query = hunting.clicks_query(message_id, urls)
            clicks = hunting.clicks_from_rows(self._graph.run_hunting_query(query))
        except (GraphError, KqlValueError) as exc:
            words = hunting_problem(exc)
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

    # --- helpers -----------------------------------------------------------------------------------------------

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


# --- pure helpers --------------------------------------------------------------------------------------------


def _summary(copies: Sequence[Copy]) -> tuple[int, int]:
    return len(copies), len({c.recipient.lower() for c in copies})


def _what_to_look_for(view: CaseView) -> tuple[str | None, list[str]]:
    if view.kind == CaseKind.URL:
        return None, [view.url] if view.url else []
    original = view.message.original if view.message else None
    return (original.message_id if original else None), list(original.urls if original else ())
