"""The "Report as phishing" message shortcut (callback_id report_phish_message): works on any message, in
channels, DMs and threads (where slash commands cannot be used). The report is made after ack; the answer goes
to the person through the shortcut's response_url (it works where the app is not a channel member)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cases.intake import Reporter
from bot.slack.contract import ShortcutCallback
from handlers.binding import with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.services import Services


def register(app: App, services: Services) -> None:
    # A message shortcut: a global shortcut of that id is not ours, it has no message.
    app.message_shortcut(ShortcutCallback.REPORT_MESSAGE)(with_services(on_report_message_shortcut, services))


def on_report_message_shortcut(ack: Ack, body: dict, respond: Respond, *, services: Services) -> None:
    ack()
    reporter = Reporter(user_id=body["user"]["id"], channel_id=(body.get("channel") or {}).get("id"))

    def reply(text: str, blocks: list[dict]) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    services.handover.submit(services.intake.report_from_message, reporter, body.get("message") or {}, reply)
