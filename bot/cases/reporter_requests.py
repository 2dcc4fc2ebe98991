"""A reporter's requests that are not a report: `/report-phish status` and opening the report form. The listeners
only record, ack and hand these over; the store and Slack are reached from here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.cases.intake import Intake
from bot.slack import cards
from bot.slack.contract import SlashCommand
from bot.store import Reporters

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]


class ReporterRequests:
    def __init__(
        self,
        *,
        reporters: Reporters,
        slack: WebClient,
        intake: Intake,
        submit: Callable[..., None],
    ) -> None:
        """`submit(work, *args)` runs work after the ack (the post-ack worker pool)."""
        self._reporters = reporters
        self._slack = slack
        self._intake = intake
        self._submit = submit

    def show_status(self, user_id: str, reply: Reply) -> None:
        """The caller's recent reports and what became of them, in their language."""
        reply(
            *cards.status_list(self._reporters.cases_reported_by(user_id), self._intake.language_of(user_id))
        )

    def open_report_form(
        self, user_id: str, channel_id: str | None, trigger_id: str, tell: Callable[[str], None]
    ) -> None:
        """Open the report modal now (its trigger expires in 3 s); the reporter's recent emails (a Graph call)
        are filled in after, unless mailboxes are known to be out of reach."""
        loading = self._intake.offers_recent_emails
        view = self._intake.report_form(channel_id=channel_id, loading=loading)
        try:
            opened: Any = self._slack.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            # The trigger opens one view within three seconds; a late or spent one is refused by Slack.
            error = exc.response.get("error")
            log.warning("the report form did not open: %s", error)
            tell(f"The report form did not open ({error}): run `{SlashCommand.REPORT}` again.")
            return
        if loading:
            self._submit(
                self._intake.fill_report_form,
                user_id,
                opened["view"]["id"],
                opened["view"].get("hash"),
                channel_id,
            )
