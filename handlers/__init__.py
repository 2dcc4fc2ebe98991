"""Slack listeners only: one module per kind, each with `register(app, services)`.

Every listener acks first and then hands the work to a service; none talks to Slack or Microsoft before ack().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import actions, commands, events, shortcuts, views

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services


def register_all(app: App, services: Services) -> None:
    commands.register(app, services)
    shortcuts.register(app, services)
    events.register(app, services)
    actions.register(app, services)
    views.register(app, services)
