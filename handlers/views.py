"""The report modal (callback_id report.submit): one of my recent emails, an .eml/.msg upload, or a link. Checks
what it can without I/O before ack, so the person sees field errors in the form; the report is made after ack.
The Purge and Block confirmations (purge.submit, block.submit) ack at once and go through CaseActions.run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.cases.intake import Reporter
from bot.domain import Category, Door
from bot.slack import cards

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    max_bytes = services.settings.max_upload_mb * 1024 * 1024

    @app.view(cards.REPORT_MODAL)
    def on_report_submitted(ack: Ack, body: dict, view: dict) -> None:
        form = cards.read_report_modal(view.get("state") or {}, view.get("private_metadata"))
        errors = {}
        chosen = sum(1 for given in (form.files, form.url, form.recent_id) if given)
        if chosen == 0:
            errors["url"] = (
                "Pick one of your recent emails, upload the email as a .eml or .msg file, or paste the link."
            )
        elif chosen > 1:
            errors["url"] = "Report one thing at a time: an email or a link."
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
        if form.recent_id:
            services.handover.submit(
                services.intake.report_from_mailbox,
                reporter,
                form.recent_id,
                reply,
                category=category,
                note=form.note,
            )
        elif form.url:
            services.handover.submit(
                services.intake.report_url,
                reporter,
                form.url,
                reply,
                category=category,
                note=form.note,
                door=Door.MODAL,
            )
        else:
            services.handover.submit(
                services.intake.report_slack_file,
                reporter,
                form.files[0],
                reply,
                door=Door.MODAL,
                category=category,
                note=form.note,
            )

    # Purge and Block confirmations. Authorization is judged again on submission: the modal's case id is only
    # a claim, and the server decides.
    def reply_in_soc(user_id: str) -> Callable[[str, list[dict]], None]:
        def reply(text: str, blocks: list[dict]) -> None:
            services.notifier.ephemeral(services.settings.soc_channel, user_id, text, blocks)

        return reply

    def responder_modal(callback_id: str, read: Callable[[dict], Any], act: Callable[..., None]) -> None:
        """A responder's modal: ack, then the same gate as the buttons (authorize, audit) before acting."""

        @app.view(callback_id)
        def on_submitted(ack: Ack, body: dict, view: dict) -> None:
            ack()
            form = read(view)
            user_id = body["user"]["id"]
            reply = reply_in_soc(user_id)
            services.handover.submit(
                services.actions.run,
                callback_id,
                user_id,
                form.case_id,
                reply,
                lambda case_id: act(user_id, case_id, form, reply),
            )

        on_submitted.__name__ = "on_" + callback_id.replace(".", "_")

    responder_modal(
        cards.PURGE_MODAL,
        cards.read_purge_modal,
        lambda user_id, case_id, form, reply: services.remediations.purge(
            user_id, case_id, form.scope, form.action, reply
        ),
    )
    responder_modal(
        cards.BLOCK_MODAL,
        cards.read_block_modal,
        lambda user_id, case_id, form, reply: services.blocks.block(
            user_id, case_id, form.expires_days, form.note, reply
        ),
    )


def _channel_from_metadata(metadata: str | None) -> str | None:
    try:
        channel = json.loads(metadata or "{}").get("channel_id")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) and channel[:1] in {"C", "G", "D"} else None
