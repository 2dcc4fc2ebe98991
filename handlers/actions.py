"""Buttons on the case card and on the resubmit choice. Each acks, then goes through CaseActions.run, which
authorizes the clicker on the server and audits the attempt. Purge and Block open a modal (views.py takes its
submission, through CaseActions.run again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot import cards

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.app import Services


def register(app: App, services: Services) -> None:
    actions = services.actions

    def responder_button(action_id: str, work: Callable[[str, int, Callable], None]) -> None:
        @app.action(action_id)
        def on_click(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
            ack()
            user_id = body["user"]["id"]
            reply = _replier(services, body, respond, user_id)
            services.worker.submit(
                actions.run,
                action_id,
                user_id,
                action.get("value"),
                reply,
                lambda case_id: work(user_id, case_id, reply),
            )

        on_click.__name__ = "on_" + action_id.replace(".", "_") + "_clicked"

    responder_button(cards.RESUBMIT, actions.resubmit)
    responder_button(cards.RESUBMIT_NOW, actions.resubmit_now)
    responder_button(cards.RESUBMIT_LATER, actions.resubmit_later)
    responder_button(cards.DISMISS, actions.dismiss)
    responder_button(cards.RESTORE, services.remediations.restore)
    responder_button(cards.WHO_CLICKED, services.remediations.who_clicked)

    def modal_button(action_id: str, open_modal: Callable[[str, int, str, Callable], None]) -> None:
        # Purge and Block ask first, in a modal: the click's trigger_id opens it (it lives three seconds).
        @app.action(action_id)
        def on_click(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
            ack()
            user_id = body["user"]["id"]
            trigger_id = body.get("trigger_id") or ""
            reply = _replier(services, body, respond, user_id)
            services.worker.submit(
                actions.run,
                action_id,
                user_id,
                action.get("value"),
                reply,
                lambda case_id: open_modal(user_id, case_id, trigger_id, reply),
            )

        on_click.__name__ = "on_" + action_id.replace(".", "_") + "_clicked"

    modal_button(cards.PURGE, services.remediations.open_purge_modal)
    modal_button(cards.BLOCK, services.blocks.open_modal)


def _replier(
    services: Services, body: dict, respond: Respond, user_id: str
) -> Callable[[str, list[dict]], None]:
    """Answers go where the click was, through its response_url; a click inside a modal has none (Slack sends
    the view instead), so the answer goes to the person in the SOC channel."""
    if not body.get("response_url"):
        return lambda text, blocks: services.notifier.ephemeral(
            services.settings.soc_channel, user_id, text, blocks
        )

    def reply(text: str, blocks: list[dict]) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return reply
