"""/report-phish: a URL reports it; nothing opens the report modal; `status` and `help` answer the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cases.intake import Reporter
from bot.slack.contract import SlashCommand
from handlers.binding import with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.services import Services

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
    app.command(SlashCommand.REPORT)(with_services(on_report_command, services))


def on_report_command(ack: Ack, command: dict, respond: Respond, *, services: Services) -> None:
    text = (command.get("text") or "").strip()
    keyword = text.lower()
    user_id = command["user_id"]
    if keyword in {"help", "?"}:
        ack(text=HELP)
        return
    if keyword == "status":
        ack()

        def show(text_out: str, blocks: list[dict]) -> None:
            respond(text=text_out, blocks=blocks, response_type="ephemeral")

        services.handover.submit(services.reporter_requests.show_status, user_id, show)
        return
    if not text:
        ack()

        def tell(text_out: str) -> None:
            respond(text=text_out, response_type="ephemeral")

        # Not handed to the worker pool: the trigger expires in 3 s, so the modal opens in this thread.
        services.reporter_requests.open_report_form(
            user_id, command.get("channel_id"), command["trigger_id"], tell
        )
        return
    ack(text="Thanks — phishbot is taking your report…")

    def reply(text_out: str, blocks: list[dict]) -> None:
        respond(text=text_out, blocks=blocks, response_type="ephemeral", replace_original=False)

    reporter = Reporter(user_id=user_id, channel_id=command.get("channel_id"))
    services.handover.submit(services.intake.report_url, reporter, text, reply)
