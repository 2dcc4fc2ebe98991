"""Mark as … and notify (`report.review`): a responder marks the employees' own submissions of a case (the Report
button) as phishing, malware, spam or not junk, and Microsoft tells each reporter, as the Defender portal's
*Mark as and notify* does (`POST …/emailThreats/{id}/review`). Reporters phishbot finds in Slack hear it there too,
in their language.

Both steps — the click that opens the choice and the confirmed choice — pass `CaseActions.run` (the server
decides who may, every attempt audited); each submission is then claimed in the store and reviewed once, and
audited once with its outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import CaseStatus, CaseView
from bot.microsoft import GraphClient, GraphError
from bot.slack import cards
from bot.slack.cards.case_response import REVIEW_WORDS
from bot.slack.directory import SlackDirectory, is_slack_user
from bot.slack.notifier import SlackNotifier
from bot.store import AuditLog, Cases, UserReports

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

AUDIT_ACTION = "review"


class Reviews:
    def __init__(
        self,
        *,
        user_reports: UserReports,
        cases: Cases,
        audit: AuditLog,
        graph: GraphClient,
        notifier: SlackNotifier,
        directory: SlackDirectory,
        slack: WebClient,
    ) -> None:
        self._user_reports = user_reports
        self._cases = cases
        self._audit = audit
        self._graph = graph
        self._notifier = notifier
        self._directory = directory
        self._slack = slack

    def open_modal(self, user_id: str, case_id: int, trigger_id: str, reply: Reply) -> None:
        """The choice of category (Microsoft's verdict preselected), within the click's 3 s trigger."""
        view = self._cases.case_view(case_id)
        if view.status == CaseStatus.DISMISSED:
            reply(*cards.notice(f"Case #{case_id} was dismissed; dismissing told its reporters already."))
            return
        if not view.unreviewed:
            reply(*cards.notice(_nothing_to_mark(view)))
            return
        try:
            self._slack.views_open(trigger_id=trigger_id, view=cards.review_modal(view))
        except SlackApiError as exc:
            log.warning("the Mark as modal did not open: %s", exc.response.get("error"))
            reply(*cards.notice("The choice did not open in time; click *Mark as… and notify* again."))

    def review(self, user_id: str, case_id: int, category: str | None, reply: Reply) -> None:
        """Mark every not yet marked user submission of the case as `category`, each once."""
        if category not in REVIEW_WORDS:
            reply(*cards.notice("Choose what to mark it as: phishing, malware, spam or not junk."))
            return
        claimed = self._user_reports.claim_reviews(case_id, category, user_id)
        if not claimed:
            reply(*cards.notice(_nothing_to_mark(self._cases.case_view(case_id))))
            return
        outcomes: dict[int, str | None] = {}
        for work in claimed:
            try:
                self._graph.review_submission(work.microsoft_id, category)
                outcomes[work.review_id] = None
            except GraphError as exc:
                log.warning("case %s: review of submission %s failed: %s", case_id, work.microsoft_id, exc)
                outcomes[work.review_id] = str(exc)
            error = outcomes[work.review_id]
            self._audit.record(
                user_id,
                AUDIT_ACTION,
                "failed" if error else "done",
                case_id=case_id,
                details={
                    "submission": work.microsoft_id,
                    "category": category,
                    "reporter": work.reporter or "",
                    **({"reason": error} if error else {}),
                },
            )
        self._user_reports.finish_reviews(case_id, user_id, category, outcomes)
        self._notifier.sync_card(case_id)
        done = sum(1 for error in outcomes.values() if error is None)
        told = self._tell_reporters(case_id, category) if done else 0
        words = REVIEW_WORDS[category]
        text = f"Case #{case_id} marked as *{words}*: Microsoft notifies {done} reporter(s)"
        text += f"; {told} told in Slack." if told else "."
        failed = len(outcomes) - done
        if failed:
            text += (
                f" {failed} submission(s) were not taken by Microsoft (see the card); mark again to retry."
            )
        reply(*cards.notice(text))

    def _tell_reporters(self, case_id: int, category: str) -> int:
        """Every reporter of the case phishbot knows in Slack hears it, in their language."""
        view = self._cases.case_view(case_id)
        told = 0
        for user_id in dict.fromkeys(view.reporters):
            if not is_slack_user(user_id):
                continue
            text, blocks = cards.reporter_review(view, category, self._directory.language_of(user_id))
            try:
                self._notifier.direct_message(user_id, text, blocks)
                told += 1
            except SlackApiError as exc:
                log.warning(
                    "case %s: a reporter was not told the review (%s)", case_id, exc.response.get("error")
                )
        return told


def _nothing_to_mark(view: CaseView) -> str:
    submissions = view.user_submissions
    if not submissions:
        return "Nobody reported this message with the Report button: there is no employee submission to mark."
    reviews = [s.review for s in submissions if s.review is not None]
    if reviews:
        last = reviews[-1]
        return (
            "Every Report-button submission of this case is marked already (last as "
            f"{REVIEW_WORDS.get(last.category, last.category)}, by {last.requested_by})."
        )
    return "Every Report-button submission of this case is being marked."
