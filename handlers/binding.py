"""How a module-level listener gets the services: bound by keyword, out of Bolt's sight; and what every listener
shares: the request recorded before its ack, the reply to the person rebuilt from the record.

Bolt passes a listener the arguments its signature names (`ack`, `body`, `action`, `respond`, …): it reads them
with `inspect.getfullargspec(inspect.unwrap(listener)).args` (slack_bolt/util/utils.py, used by
slack_bolt/listener/custom_listener.py) and fills them in slack_bolt/kwargs_injection/utils.py. A
`functools.partial` that binds `services=` by keyword turns that parameter keyword-only, so it leaves `.args`:
Bolt passes what it knows and the partial adds the services. (`functools.wraps` would not do: it sets
`__wrapped__`, Bolt unwraps to the bare function and asks for `services` itself.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.respond import Respond

if TYPE_CHECKING:
    from bot.services import Services

Listener = Callable[..., Any]
Reply = Callable[[str, list[dict]], None]


def with_services(listener: Listener, services: Services) -> Listener:
    bound = functools.partial(listener, services=services)
    # Bolt's debug log names each listener it tries; a bare partial has no name of its own.
    vars(bound)["__name__"] = listener.__name__
    return bound


def respond_to(services: Services, body: dict) -> Respond:
    """Bolt's `respond` for a recorded request: its response_url (a modal's, when it asked Slack for one)."""
    url = body.get("response_url")
    if not url:
        urls = body.get("response_urls") or [{}]
        url = urls[0].get("response_url") if isinstance(urls[0], dict) else None
    return Respond(response_url=url or None, proxy=services.slack.proxy, ssl=services.slack.ssl)


def ephemeral_reply(respond: Respond) -> Reply:
    def reply(text: str, blocks: list[dict]) -> None:
        respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)

    return reply
