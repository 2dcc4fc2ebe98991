"""Who may act on a case: the one place that decides, fail-closed.

`PHISHBOT_RESPONDERS` lists user ids (U…/W…) and user group ids (S…). Group members come from
`usergroups.users.list`, cached for 30 seconds and refreshed on a miss (someone just added to the group
can act at once; someone removed loses access within half a minute). When Slack cannot be asked, a user who is
not listed by id is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 30.0
# A miss may refresh a group at most this often, so a stream of refused clicks cannot hammer a Tier 2 method.
MISS_REFRESH_SECONDS = 10.0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # for the audit log and, when refused, for the person


class Authorizer:
    def __init__(
        self,
        client: WebClient,
        responders: Iterable[str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        entries = [r.strip() for r in responders if r.strip()]
        self._users = frozenset(e for e in entries if e[0] in "UW")
        self._groups = tuple(e for e in entries if e[0] == "S")
        self._client = client
        self._clock = clock
        self._lock = threading.Lock()
        self._members: dict[str, frozenset[str]] = {}
        self._fetched_at: dict[str, float] = {}

    @property
    def configured(self) -> bool:
        return bool(self._users or self._groups)

    def check(self, user_id: str) -> Decision:
        if not self.configured:
            return Decision(False, "No responders are configured (PHISHBOT_RESPONDERS is empty).")
        if user_id in self._users:
            return Decision(True, "Listed in PHISHBOT_RESPONDERS.")
        if not self._groups:
            return Decision(False, "You are not listed as a responder.")
        unreachable = []
        for group in self._groups:
            members = self._group_members(group, refresh_if_missing=user_id)
            if members is None:
                unreachable.append(group)
            elif user_id in members:
                return Decision(True, f"Member of responder group {group}.")
        if unreachable:
            return Decision(
                False, "Slack could not confirm your responder group membership, so to be safe it is refused."
            )
        return Decision(False, "You are not listed as a responder or in a responder group.")

    def _group_members(self, group: str, *, refresh_if_missing: str) -> frozenset[str] | None:
        now = self._clock()
        with self._lock:
            members = self._members.get(group)
            fetched = self._fetched_at.get(group, float("-inf"))
        fresh = now - fetched < GROUP_CACHE_SECONDS
        if members is not None and fresh and refresh_if_missing in members:
            return members
        if members is not None and fresh and now - fetched < MISS_REFRESH_SECONDS:
            return members
        try:
            response = self._client.usergroups_users_list(usergroup=group)
        except SlackApiError as exc:
            log.warning("usergroups.users.list failed for %s: %s", group, exc.response.get("error"))
            return None
        except Exception as exc:  # noqa: BLE001 - network failures must fail closed, not crash the action
            log.warning("usergroups.users.list failed for %s: %s", group, type(exc).__name__)
            return None
        members = frozenset(response.get("users") or ())
        with self._lock:
            self._members[group] = members
            self._fetched_at[group] = now
        return members
