"""Buttons on the case card and on the resubmit choice. Each acks, then goes through CaseActions.run, which
authorizes the clicker on the server and audits the attempt. Purge and Block open a modal (views.py takes its
submission, through CaseActions.run again)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.slack import cards

if TYPE_CHECKING:
    from slack_bolt import Ack, App, Respond

    from bot.services import Services


def register(app: App, services: Services) -> None:
    actions = services.actions

    def button(action_id: str, work: Callable[[str, int, Callable, str], None]) -> None:
        """`work(user_id, case_id, reply, trigger_id)` runs once CaseActions.run has authorized and audited."""

        @app.action(action_id)
        def on_click(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
            ack()
            user_id = body["user"]["id"]
            # Purge and Block open a modal first: the click's trigger_id lives three seconds.
            trigger_id = body.get("trigger_id") or ""
            reply = _replier(services, body, respond, user_id)
            services.handover.submit(
                actions.run,
                action_id,
                user_id,
                action.get("value"),
                reply,
                lambda case_id: work(user_id, case_id, reply, trigger_id),
            )

        on_click.__name__ = "on_" + action_id.replace(".", "_") + "_clicked"

    def without_trigger(
        work: Callable[[str, int, Callable], None],
    ) -> Callable[[str, int, Callable, str], None]:
        return lambda user_id, case_id, reply, _trigger_id: work(user_id, case_id, reply)

    button(cards.RESUBMIT, without_trigger(actions.resubmit))
    button(cards.RESUBMIT_NOW, without_trigger(actions.resubmit_now))
    button(cards.RESUBMIT_LATER, without_trigger(actions.resubmit_later))
    button(cards.DISMISS, without_trigger(actions.dismiss))
    button(cards.RESTORE, without_trigger(services.remediations.restore))
    button(cards.WHO_CLICKED, without_trigger(services.remediations.who_clicked))
    button(
        cards.PURGE,
        lambda user_id, case_id, reply, trigger_id: services.remediations.open_purge_modal(
            user_id, case_id, trigger_id, reply
        ),
    )
    button(
        cards.BLOCK,
        lambda user_id, case_id, reply, trigger_id: services.blocks.open_modal(
            user_id, case_id, trigger_id, reply
        ),
    )


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
