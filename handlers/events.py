"""Events: an .eml uploaded into an intake channel.

`@app.message()` never fires for messages with empty text (file-only uploads, Email-app forwards), so this
listens to every `message` event and lets the service pick the ones with files. Slack redelivers events it
thinks were lost: the event id is claimed once in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    @app.event("message")
    def on_message(body: dict, event: dict) -> None:
        # Events are acked by Bolt before this runs.
        if event.get("subtype") != "file_share" or not event.get("files"):
            return
        event_id = body.get("event_id") or f"{event.get('channel')}:{event.get('ts')}"

        def take_once() -> None:
            if services.store.idempotency.first_time(f"event:{event_id}"):
                services.intake.on_message_with_files(event)

        services.worker.submit(take_once)
