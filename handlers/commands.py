"""/report-phish: a URL reports it; nothing opens the report modal; `status` and `help` answer the caller."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot import cards
from bot.intake import Reporter

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond
    from slack_sdk import WebClient

    from bot.app import Services

COMMAND = "/report-phish"

HELP = (
    "*How to report a suspicious email*\n"
    "• `/report-phish` — opens a form: upload the email as a .eml file, or paste a link.\n"
    "• `/report-phish https://suspicious.example/login` — reports a link at once.\n"
    "• `/report-phish status` — your recent reports and what Microsoft said.\n"
    "• Or drop the .eml file into a report channel.\n"
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
            text_out, blocks = cards.status_list(services.store.cases_reported_by(command["user_id"]))
            respond(text=text_out, blocks=blocks, response_type="ephemeral")
            return
        if not text:
            ack()
            view = cards.report_modal(max_upload_mb=services.settings.max_upload_mb)
            view["private_metadata"] = json.dumps({"channel_id": command.get("channel_id")})
            client.views_open(trigger_id=command["trigger_id"], view=view)
            return
        ack(text="Thanks — phishbot is taking your report…")

        def reply(text_out: str, blocks: list[dict]) -> None:
            respond(text=text_out, blocks=blocks, response_type="ephemeral", replace_original=False)

        reporter = Reporter(user_id=command["user_id"], channel_id=command.get("channel_id"))
        services.intake.report_url(reporter, text, reply)
