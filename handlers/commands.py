"""/report-phish: a URL reports it; nothing opens the report modal; `status` and `help` answer the caller."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError

from bot.cases.intake import Reporter
from bot.slack import cards

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.services import Services

log = logging.getLogger(__name__)

COMMAND = "/report-phish"

HELP = (
    "*How to report a suspicious email*\n"
    "• `/report-phish` — opens a form: pick the email from your recent emails, upload it as a .eml or .msg"
    " file, or paste a link.\n"
    "• `/report-phish https://suspicious.example/login` — reports a link at once.\n"
    "• `/report-phish status` — your recent reports and what Microsoft said.\n"
    "• In a thread or on any message: ⋯ → *Report as phishing* (the message's email, files or links).\n"
    "• Or drop the .eml/.msg file, or forward the email, into a report channel.\n"
    "Security sends it to Microsoft Defender and tells you the outcome here."
)


def register(app: App, services: Services) -> None:
    @app.command(COMMAND)
    def on_report_command(ack: Ack, command: dict, respond: Respond, client: WebClient) -> None:
        text = (command.get("text") or "").strip()
        keyword = text.lower()
        if keyword in {"help", "?"}:
            ack(text=HELP)
            return
        if keyword == "status":
            ack()

            def show_status() -> None:
                text_out, blocks = cards.status_list(
                    services.store.reporters.cases_reported_by(command["user_id"]),
                    services.intake.language_of(command["user_id"]),
                )
                respond(text=text_out, blocks=blocks, response_type="ephemeral")

            services.worker.submit(show_status)
            return
        if not text:
            ack()
            # The trigger expires in 3 s: the modal opens now, and the reporter's recent emails (a Graph
            # call) are filled in after, unless mailboxes are known to be out of reach.
            loading = services.intake.offers_recent_emails
            channel_id = command.get("channel_id")
            view = services.intake.report_form(channel_id=channel_id, loading=loading)
            try:
                opened = client.views_open(trigger_id=command["trigger_id"], view=view)
            except SlackApiError as exc:
                # The trigger opens one view within three seconds; a late or spent one is refused by Slack.
                error = exc.response.get("error")
                log.warning("the report form did not open: %s", error)
                respond(
                    text=f"The report form did not open ({error}): run `{COMMAND}` again.",
                    response_type="ephemeral",
                )
                return
            if loading:
                services.worker.submit(
                    services.intake.fill_report_form,
                    command["user_id"],
                    opened["view"]["id"],
                    opened["view"].get("hash"),
                    channel_id,
                )
            return
        ack(text="Thanks — phishbot is taking your report…")

        def reply(text_out: str, blocks: list[dict]) -> None:
            respond(text=text_out, blocks=blocks, response_type="ephemeral", replace_original=False)

        reporter = Reporter(user_id=command["user_id"], channel_id=command.get("channel_id"))
        services.worker.submit(services.intake.report_url, reporter, text, reply)
