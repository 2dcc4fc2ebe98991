"""How a module-level listener gets the services: bound by keyword, out of Bolt's sight.

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

if TYPE_CHECKING:
    from bot.services import Services

Listener = Callable[..., Any]
Reply = Callable[[str, list[dict]], None]


def with_services(listener: Listener, services: Services) -> Listener:
    bound = functools.partial(listener, services=services)
    # Bolt's debug log names each listener it tries; a bare partial has no name of its own.
    vars(bound)["__name__"] = listener.__name__
    return bound
