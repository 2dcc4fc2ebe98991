"""The report modal (callback_id report.submit): one of my recent emails, an .eml/.msg upload, or a link. Checks
what it can without I/O before ack, so the person sees field errors in the form; the submission is recorded, then
acked, and the report made from the record. The Purge, Block and Mark as … and notify confirmations
(purge.submit, block.submit, review.submit) are recorded and acked at once; carried out, they go through
CaseActions.run."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.cases.intake import Reporter
from bot.domain import Category, Door
from bot.slack import cards
from bot.slack.contract import ModalCallback
from handlers.binding import Reply, with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.services import Services


def register(app: App, services: Services) -> None:
    app.view(ModalCallback.REPORT)(with_services(on_report_submitted, services))
    app.view(ModalCallback.PURGE)(with_services(on_purge_submitted, services))
    app.view(ModalCallback.BLOCK)(with_services(on_block_submitted, services))
    app.view(ModalCallback.REVIEW)(with_services(on_review_submitted, services))
    for callback, carry_out in (
        (ModalCallback.REPORT, report_submitted),
        (ModalCallback.PURGE, purge_submitted),
        (ModalCallback.BLOCK, block_submitted),
        (ModalCallback.REVIEW, review_submitted),
    ):
        services.requests.route(callback, with_services(carry_out, services))


def on_report_submitted(ack: Ack, body: dict, view: dict, *, services: Services) -> None:
    form = cards.read_report_modal(view.get("state") or {}, view.get("private_metadata"))
    errors = report_form_errors(form, services.settings.max_upload_mb)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    _take(ack, body, services, ModalCallback.REPORT)


# Purge, Block and Mark as confirmations. Authorization is judged again when they are carried out: the modal's
# case id is only a claim, and the server decides.


def on_purge_submitted(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ModalCallback.PURGE)


def on_block_submitted(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ModalCallback.BLOCK)


def on_review_submitted(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ModalCallback.REVIEW)


def _take(ack: Ack, body: dict, services: Services, callback: ModalCallback) -> None:
    taken = services.requests.take(callback, body)
    ack()
    services.requests.start(taken)


# --- carried out from the record, after the ack ------------------------------------------------------------------


def report_submitted(body: dict, *, services: Services) -> None:
    view = body.get("view") or {}
    form = cards.read_report_modal(view.get("state") or {}, view.get("private_metadata"))
    user_id = body["user"]["id"]
    channel_id = _channel_from_metadata(view.get("private_metadata"))
    reporter = Reporter(user_id=user_id, channel_id=channel_id)

    def reply(text: str, blocks: list[dict]) -> None:
        services.notifier.ephemeral(channel_id, user_id, text, blocks)

    _report(services, reporter, form, reply)


def purge_submitted(body: dict, *, services: Services) -> None:
    form = cards.read_purge_modal(body.get("view") or {})
    _confirmed(
        services,
        ModalCallback.PURGE,
        body,
        form.case_id,
        lambda user_id, case_id, reply: services.remediations.purge(
            user_id, case_id, form.scope, form.action, reply
        ),
    )


def block_submitted(body: dict, *, services: Services) -> None:
    form = cards.read_block_modal(body.get("view") or {})
    _confirmed(
        services,
        ModalCallback.BLOCK,
        body,
        form.case_id,
        lambda user_id, case_id, reply: services.block_list.block(
            user_id, case_id, form.expires_days, form.note, reply
        ),
    )


def review_submitted(body: dict, *, services: Services) -> None:
    form = cards.read_review_modal(body.get("view") or {})
    _confirmed(
        services,
        ModalCallback.REVIEW,
        body,
        form.case_id,
        lambda user_id, case_id, reply: services.reviews.review(user_id, case_id, form.category, reply),
    )


def _confirmed(
    services: Services,
    callback: ModalCallback,
    body: dict,
    case_id: int | None,
    work: Callable[[str, int, Reply], None],
) -> None:
    """CaseActions.run judges the submitter again and audits, then `work` runs."""
    user_id = body["user"]["id"]
    reply = _reply_in_soc(services, user_id)
    services.actions.run(callback, user_id, case_id, reply, lambda case: work(user_id, case, reply))


def report_form_errors(form: cards.ReportForm, max_upload_mb: int) -> dict[str, str]:
    """Field errors Slack shows in the open form: exactly one thing reported, and no file over the limit."""
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
        if isinstance(size, int) and size > max_upload_mb * 1024 * 1024:
            errors["file"] = f"That file is over {max_upload_mb} MB."
    return errors


def _report(services: Services, reporter: Reporter, form: cards.ReportForm, reply: Reply) -> None:
    """Hand the checked form to intake, by what it holds: a recent email, a link, or an uploaded file."""
    category = Category(form.category) if form.category in {c.value for c in Category} else Category.PHISHING
    intake = services.intake
    if form.recent_id:
        intake.report_from_mailbox(reporter, form.recent_id, reply, category=category, note=form.note)
    elif form.url:
        intake.report_url(reporter, form.url, reply, category=category, note=form.note, door=Door.MODAL)
    else:
        intake.report_slack_file(
            reporter, form.files[0], reply, door=Door.MODAL, category=category, note=form.note
        )


def _reply_in_soc(services: Services, user_id: str) -> Reply:
    def reply(text: str, blocks: list[dict]) -> None:
        services.notifier.ephemeral(services.settings.soc_channel, user_id, text, blocks)

    return reply


def _channel_from_metadata(metadata: str | None) -> str | None:
    try:
        channel = json.loads(metadata or "{}").get("channel_id")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) and channel[:1] in {"C", "G", "D"} else None
