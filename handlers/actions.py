"""Buttons on the case card and on the resubmit choice. Each acks, then goes through CaseActions.run, which
authorizes the clicker on the server and audits the attempt. Purge, Block and Mark as … and notify open a modal
(views.py takes its submission, through CaseActions.run again). The App Home's button opens the report form."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.slack import cards
from bot.slack.contract import ActionId
from handlers.binding import Reply, with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.services import Services

# What a button does once CaseActions.run has authorized and audited: work(user_id, case_id, reply).
Work = Callable[[str, int, Reply], None]


def register(app: App, services: Services) -> None:
    for action_id, listener in (
        (ActionId.RESUBMIT, on_resubmit_clicked),
        (ActionId.RESUBMIT_NOW, on_resubmit_now_clicked),
        (ActionId.RESUBMIT_LATER, on_resubmit_later_clicked),
        (ActionId.DISMISS, on_dismiss_clicked),
        (ActionId.RESTORE, on_restore_clicked),
        (ActionId.WHO_CLICKED, on_who_clicked_clicked),
        (ActionId.PURGE, on_purge_clicked),
        (ActionId.BLOCK, on_block_clicked),
        (ActionId.REVIEW, on_review_clicked),
        (ActionId.HOME_REPORT, on_home_report_clicked),
    ):
        app.action(action_id)(with_services(listener, services))


def on_resubmit_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _hand_over(services, ActionId.RESUBMIT, body, action, respond, services.actions.resubmit)


def on_resubmit_now_clicked(
    ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services
) -> None:
    ack()
    _hand_over(services, ActionId.RESUBMIT_NOW, body, action, respond, services.actions.resubmit_now)


def on_resubmit_later_clicked(
    ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services
) -> None:
    ack()
    _hand_over(services, ActionId.RESUBMIT_LATER, body, action, respond, services.actions.resubmit_later)


def on_dismiss_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _hand_over(services, ActionId.DISMISS, body, action, respond, services.actions.dismiss)


def on_restore_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _hand_over(services, ActionId.RESTORE, body, action, respond, services.remediations.restore)


def on_who_clicked_clicked(
    ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services
) -> None:
    ack()
    _hand_over(services, ActionId.WHO_CLICKED, body, action, respond, services.remediations.who_clicked)


def on_purge_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _open_modal(services, ActionId.PURGE, body, action, respond, services.remediations.open_purge_modal)


def on_block_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _open_modal(services, ActionId.BLOCK, body, action, respond, services.block_list.open_modal)


def on_review_clicked(ack: Ack, body: dict, action: dict, respond: Respond, *, services: Services) -> None:
    ack()
    _open_modal(services, ActionId.REVIEW, body, action, respond, services.reviews.open_modal)


def on_home_report_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    ack()
    user_id = body["user"]["id"]

    def tell(text: str) -> None:
        services.notifier.direct_message(user_id, *cards.notice(text))

    # Not handed to the worker pool: the trigger expires in 3 s, so the form opens in this thread.
    services.reporter_requests.open_report_form(user_id, None, body.get("trigger_id") or "", tell)


def _open_modal(
    services: Services,
    action_id: ActionId,
    body: dict,
    action: dict,
    respond: Respond,
    opener: Callable[[str, int, str, Reply], None],
) -> None:
    """A button that opens a modal first (Purge, Block, Mark as): the click's trigger_id lives three seconds."""
    trigger_id = body.get("trigger_id") or ""
    _hand_over(
        services,
        action_id,
        body,
        action,
        respond,
        lambda user_id, case_id, reply: opener(user_id, case_id, trigger_id, reply),
    )


def _hand_over(
    services: Services, action_id: ActionId, body: dict, action: dict, respond: Respond, work: Work
) -> None:
    """After the ack: CaseActions.run authorizes and audits the click, then `work` runs on the worker pool."""
    user_id = body["user"]["id"]
    reply = _replier(services, body, respond, user_id)
    services.handover.submit(
        services.actions.run,
        action_id,
        user_id,
        action.get("value"),
        reply,
        lambda case_id: work(user_id, case_id, reply),
    )


def _replier(services: Services, body: dict, respond: Respond, user_id: str) -> Reply:
    """Answers go where the click was, through its response_url; a click inside a modal has none (Slack sends
    the view instead), so the answer goes to the person in the SOC channel."""
    if not body.get("response_url"):
        return lambda text, blocks: services.notifier.ephemeral(
            services.settings.soc_channel, user_id, text, blocks
        )

    def reply(text: str, blocks: list[dict]) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return reply
