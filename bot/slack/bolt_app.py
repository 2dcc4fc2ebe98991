"""The Bolt app: its web client, request verification by mode, its listener threads and the error handler.

It knows no listener: the composition root (bot.runtime.slack_app) registers them, so nothing here imports
the handlers that import the services.
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings


def build_bolt_app(slack: WebClient, settings: Settings) -> App:
    http_mode = settings.mode == "http"
    app = App(
        # Without a name Bolt reads it from inspect.stack(): the source of every frame on the stack, 50 ms.
        name="phishbot",
        client=slack,
        signing_secret=settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else None,
        # auth.test would be a Slack call at construction time; Bolt makes it lazily on the first request.
        token_verification_enabled=False,
        request_verification_enabled=http_mode,
        # Listeners only record the request and ack (handlers/): run them in the request thread and answer when
        # they return, instead of a listener thread whose ack the request thread polls for every 10 ms.
        process_before_response=True,
    )
    app.error(on_error)
    return app


def on_error(error: Exception, body: dict, logger: logging.Logger) -> None:
    logger.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)
