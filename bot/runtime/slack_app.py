"""The composition root of the Slack side: the Bolt app with every listener registered, services bound.

It lives here, above both, because handlers import the services (bot.services) and the services must not
import the handlers back.
"""

from __future__ import annotations

from slack_bolt import App

import handlers
from bot.services import Services
from bot.slack.bolt_app import build_bolt_app


def create_app(services: Services) -> App:
    app = build_bolt_app(services.slack, services.settings)
    handlers.register_all(app, services)
    return app
