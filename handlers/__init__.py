"""Slack listeners only: one module per kind, each with `register(app, services)`.

Every listener is a module-level function named for the interaction it answers (`on_report_command`,
`on_purge_clicked`, …). It records the request (the inbox), acks, and starts the carry-out beside it, which
hands the work to a service; none talks to Slack or Microsoft before ack(). `register_all` is the one place
they are wired to the app, `services` bound explicitly (handlers.binding).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers import actions, commands, events, shortcuts, views

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.services import Services


def register_all(app: App, services: Services) -> None:
    for kind in (commands, shortcuts, events, actions, views):
        kind.register(app, services)
