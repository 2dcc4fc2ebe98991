"""The Bolt app: its web client, request verification by mode, its listener threads and the error handler.

It knows no listener: the composition root (bot.runtime.slack_app) registers them, so nothing here imports
the handlers that import the services.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Settings

# Listener threads: Graph submissions run in them after ack(); Bolt's default of 5 is too few for a busy SOC.
LISTENER_THREADS = 16


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
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    app.error(on_error)
    return app


def on_error(error: Exception, body: dict, logger: logging.Logger) -> None:
    logger.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)
