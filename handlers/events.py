"""Events: an .eml uploaded into an intake channel; someone opening phishbot's Home tab.

`@app.message()` never fires for messages with empty text (file-only uploads, Email-app forwards), so this
listens to every `message` event and records the ones with files. Slack redelivers events it thinks were lost:
the record's key is the event id, so a redelivery is recorded (and carried out) once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack.contract import HOME_TAB, EventType
from handlers.binding import with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    app.event(EventType.MESSAGE)(with_services(on_message, services))
    app.event(EventType.APP_HOME_OPENED)(with_services(on_app_home_opened, services))
    services.requests.route(EventType.MESSAGE, with_services(message_with_files, services))
    services.requests.route(EventType.APP_HOME_OPENED, with_services(app_home_opened, services))


def on_message(ack: Ack, body: dict, event: dict, *, services: Services) -> None:
    if event.get("subtype") != "file_share" or not event.get("files"):
        ack()
        return
    taken = services.requests.take(EventType.MESSAGE, body)
    ack()
    services.requests.start(taken)


def on_app_home_opened(ack: Ack, body: dict, event: dict, *, services: Services) -> None:
    # The Messages tab opens the same event: only the Home tab has a view.
    if event.get("tab") != HOME_TAB or not isinstance(event.get("user"), str):
        ack()
        return
    taken = services.requests.take(EventType.APP_HOME_OPENED, body)
    ack()
    services.requests.start(taken)


def message_with_files(body: dict, *, services: Services) -> None:
    services.intake.on_message_with_files(body.get("event") or {})


def app_home_opened(body: dict, *, services: Services) -> None:
    services.app_home.opened((body.get("event") or {})["user"])
