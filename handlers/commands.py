"""/report-phish: a URL reports it; nothing opens the report modal; `status` and `help` answer the caller.

The listener records the command (services.requests) and acks; `report_command` carries it out from the record,
after the ack, in this process or (if it died) in the next."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cases.intake import Reporter
from bot.cases.slack_requests import NotRecorded
from bot.slack.contract import SlashCommand
from handlers.binding import ephemeral_reply, respond_to, with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App

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
NOT_RECORDED = (
    "phishbot could not take this just now (its database is out of reach), so nothing was reported."
    " Please try again in a minute."
)


def register(app: App, services: Services) -> None:
    app.command(SlashCommand.REPORT)(with_services(on_report_command, services))
    services.requests.route(SlashCommand.REPORT, with_services(report_command, services))


def on_report_command(ack: Ack, command: dict, *, services: Services) -> None:
    keyword = (command.get("text") or "").strip().lower()
    if keyword in {"help", "?"}:
        ack(text=HELP)
        return
    try:
        taken = services.requests.take(SlashCommand.REPORT, command)
    except NotRecorded:
        ack(text=NOT_RECORDED)
        return
    if keyword and keyword != "status":
        ack(text="Thanks — phishbot is taking your report…")
    else:
        ack()
    # A bare /report-phish opens the form, within the trigger's three seconds.
    services.requests.start(taken, urgent=not keyword)


def report_command(command: dict, *, services: Services) -> None:
    text = (command.get("text") or "").strip()
    keyword = text.lower()
    user_id = command["user_id"]
    respond = respond_to(services, command)
    if keyword == "status":

        def show(text_out: str, blocks: list[dict]) -> None:
            respond(text=text_out, blocks=blocks, response_type="ephemeral")

        services.reporter_requests.show_status(user_id, show)
        return
    if not text:

        def tell(text_out: str) -> None:
            respond(text=text_out, response_type="ephemeral")

        services.reporter_requests.open_report_form(
            user_id, command.get("channel_id"), command["trigger_id"], tell
        )
        return
    reporter = Reporter(user_id=user_id, channel_id=command.get("channel_id"))
    services.intake.report_url(reporter, text, ephemeral_reply(respond))
