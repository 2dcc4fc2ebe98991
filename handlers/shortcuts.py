"""The "Report as phishing" message shortcut (callback_id report_phish_message): works on any message, in
channels, DMs and threads (where slash commands cannot be used). The listener records it and acks; the report is
made from the record; the answer goes to the person through the shortcut's response_url (it works where the app
is not a channel member)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cases.intake import Reporter
from bot.slack.contract import ShortcutCallback
from handlers.binding import ephemeral_reply, respond_to, with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    # A message shortcut: a global shortcut of that id is not ours, it has no message.
    app.message_shortcut(ShortcutCallback.REPORT_MESSAGE)(with_services(on_report_message_shortcut, services))
    services.requests.route(ShortcutCallback.REPORT_MESSAGE, with_services(report_message, services))


def on_report_message_shortcut(ack: Ack, body: dict, *, services: Services) -> None:
    taken = services.requests.take(ShortcutCallback.REPORT_MESSAGE, body)
    ack()
    services.requests.start(taken)


def report_message(body: dict, *, services: Services) -> None:
    reporter = Reporter(user_id=body["user"]["id"], channel_id=(body.get("channel") or {}).get("id"))
    reply = ephemeral_reply(respond_to(services, body))
    services.intake.report_from_message(reporter, body.get("message") or {}, reply)
