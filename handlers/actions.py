"""Buttons on the case card and on the resubmit choice. Each listener records the click and acks; carried out from
the record, it goes through CaseActions.run, which authorizes the clicker on the server and audits the attempt.
Purge, Block and Mark as … and notify open a modal (views.py takes its submission, through CaseActions.run
again). The App Home's button opens the report form."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.slack import cards
from bot.slack.contract import ActionId
from handlers.binding import Reply, ephemeral_reply, respond_to, with_services

if TYPE_CHECKING:
    from slack_bolt import Ack, App

    from bot.services import Services

# What a button does once CaseActions.run has authorized and audited: work(user_id, case_id, reply).
Work = Callable[[str, int, Reply], None]
# A button that opens a modal: opener(user_id, case_id, trigger_id, reply), within the click's three seconds.
Opener = Callable[[str, int, str, Reply], None]


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
    works: dict[ActionId, Work] = {
        ActionId.RESUBMIT: services.actions.resubmit,
        ActionId.RESUBMIT_NOW: services.actions.resubmit_now,
        ActionId.RESUBMIT_LATER: services.actions.resubmit_later,
        ActionId.DISMISS: services.actions.dismiss,
        ActionId.RESTORE: services.remediations.restore,
        ActionId.WHO_CLICKED: services.remediations.who_clicked,
    }
    openers: dict[ActionId, Opener] = {
        ActionId.PURGE: services.remediations.open_purge_modal,
        ActionId.BLOCK: services.block_list.open_modal,
        ActionId.REVIEW: services.reviews.open_modal,
    }
    for action_id, work in works.items():
        services.requests.route(action_id, functools.partial(clicked, services, action_id, work))
    for action_id, opener in openers.items():
        services.requests.route(action_id, functools.partial(clicked_to_open, services, action_id, opener))
    services.requests.route(ActionId.HOME_REPORT, with_services(home_report_clicked, services))


def on_resubmit_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.RESUBMIT)


def on_resubmit_now_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.RESUBMIT_NOW)


def on_resubmit_later_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.RESUBMIT_LATER)


def on_dismiss_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.DISMISS)


def on_restore_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.RESTORE)


def on_who_clicked_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.WHO_CLICKED)


def on_purge_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.PURGE, opens_modal=True)


def on_block_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.BLOCK, opens_modal=True)


def on_review_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.REVIEW, opens_modal=True)


def on_home_report_clicked(ack: Ack, body: dict, *, services: Services) -> None:
    _take(ack, body, services, ActionId.HOME_REPORT, opens_modal=True)


def _take(
    ack: Ack, body: dict, services: Services, action_id: ActionId, *, opens_modal: bool = False
) -> None:
    """Record the click, ack, carry it out: a modal's opener on threads of its own (the trigger lives 3 s)."""
    taken = services.requests.take(action_id, body)
    ack()
    services.requests.start(taken, urgent=opens_modal)


# --- carried out from the record, after the ack ------------------------------------------------------------------


def clicked(services: Services, action_id: ActionId, work: Work, body: dict) -> None:
    """CaseActions.run authorizes and audits the click, then `work` runs."""
    user_id = body["user"]["id"]
    reply = _replier(services, body, user_id)
    services.actions.run(
        action_id, user_id, _action(body).get("value"), reply, lambda case_id: work(user_id, case_id, reply)
    )


def clicked_to_open(services: Services, action_id: ActionId, opener: Opener, body: dict) -> None:
    """A button that opens a modal first (Purge, Block, Mark as): with the click's trigger."""
    trigger_id = body.get("trigger_id") or ""
    clicked(
        services,
        action_id,
        lambda user_id, case_id, reply: opener(user_id, case_id, trigger_id, reply),
        body,
    )


def home_report_clicked(body: dict, *, services: Services) -> None:
    user_id = body["user"]["id"]

    def tell(text: str) -> None:
        services.notifier.direct_message(user_id, *cards.notice(text))

    services.reporter_requests.open_report_form(user_id, None, body.get("trigger_id") or "", tell)


def _action(body: dict) -> dict:
    actions = body.get("actions") or [{}]
    return actions[0] if isinstance(actions[0], dict) else {}


def _replier(services: Services, body: dict, user_id: str) -> Reply:
    """Answers go where the click was, through its response_url; a click inside a modal has none (Slack sends
    the view instead), so the answer goes to the person in the SOC channel."""
    if not body.get("response_url"):
        return lambda text, blocks: services.notifier.ephemeral(
            services.settings.soc_channel, user_id, text, blocks
        )
    return ephemeral_reply(respond_to(services, body))
