"""The "Report as phishing" message shortcut (callback_id report_phish_message): works on any message, in
channels, DMs and threads (where slash commands cannot be used). The report is made after ack; the answer goes
to the person through the shortcut's response_url (it works where the app is not a channel member)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cases.intake import Reporter

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.services import Services

REPORT_MESSAGE = "report_phish_message"


def register(app: App, services: Services) -> None:
    @app.message_shortcut(REPORT_MESSAGE)  # a global shortcut of that id is not ours: it has no message
    def on_report_message_shortcut(ack: Ack, body: dict, respond: Respond) -> None:
        ack()
        reporter = Reporter(user_id=body["user"]["id"], channel_id=(body.get("channel") or {}).get("id"))

        def reply(text: str, blocks: list[dict]) -> None:
            respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

        services.handover.submit(
            services.intake.report_from_message, reporter, body.get("message") or {}, reply
        )
