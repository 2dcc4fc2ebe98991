"""The report modal (callback_id report.submit). Checks what it can without I/O before ack, so the person
sees field errors in the form; the report itself is made after ack."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot import cards
from bot.domain import Category, Door
from bot.intake import Reporter

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.app import Services


def register(app: App, services: Services) -> None:
    max_bytes = services.settings.max_upload_mb * 1024 * 1024

    @app.view(cards.REPORT_MODAL)
    def on_report_submitted(ack: Ack, body: dict, view: dict) -> None:
        form = cards.read_report_modal(view.get("state") or {})
        errors = {}
        if not form.files and not form.url:
            errors["url"] = "Upload the email as a .eml file, or paste the suspicious link."
        elif form.files and form.url:
            errors["url"] = "Report one thing at a time: the file or the link."
        for file in form.files:
            size = file.get("size")
            if isinstance(size, int) and size > max_bytes:
                errors["file"] = f"That file is over {services.settings.max_upload_mb} MB."
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user_id = body["user"]["id"]
        channel_id = _channel_from_metadata(view.get("private_metadata"))
        reporter = Reporter(user_id=user_id, channel_id=channel_id)

        def reply(text: str, blocks: list[dict]) -> None:
            services.notifier.ephemeral(channel_id, user_id, text, blocks)

        category = (
            Category(form.category) if form.category in {c.value for c in Category} else Category.PHISHING
        )
        if form.url:
            services.intake.report_url(
                reporter, form.url, reply, category=category, note=form.note, door=Door.MODAL
            )
        else:
            services.intake.report_slack_file(
                reporter, form.files[0], reply, door=Door.MODAL, category=category, note=form.note
            )


def _channel_from_metadata(metadata: str | None) -> str | None:
    try:
        channel = json.loads(metadata or "{}").get("channel_id")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) and channel[:1] in {"C", "G", "D"} else None
