"""Events: an .eml uploaded into an intake channel; someone opening phishbot's Home tab.

`@app.message()` never fires for messages with empty text (file-only uploads, Email-app forwards), so this
listens to every `message` event and lets the service pick the ones with files. Slack redelivers events it
thinks were lost: the service claims the event id once in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.slack.contract import HOME_TAB, EventType
from handlers.binding import with_services

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    app.event(EventType.MESSAGE)(with_services(on_message, services))
    app.event(EventType.APP_HOME_OPENED)(with_services(on_app_home_opened, services))


def on_message(body: dict, event: dict, *, services: Services) -> None:
    # Events are acked by Bolt before this runs.
    if event.get("subtype") != "file_share" or not event.get("files"):
        return
    event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"
    services.handover.submit(services.reporter_requests.take_message_event, event_id, event)


def on_app_home_opened(event: dict, *, services: Services) -> None:
    # Acked by Bolt before this runs. The Messages tab opens the same event: only the Home tab has a view.
    if event.get("tab") != HOME_TAB or not isinstance(event.get("user"), str):
        return
    services.handover.submit(services.app_home.opened, event["user"])
