"""Who a Slack user is, for phishbot: their mailbox address and their language; and who is behind an address.

`users.info` (with `include_locale`) answers both the email (scope users:read.email) and the locale, so one
call serves the acknowledgement and, later, the outcome. Answers are kept for a few minutes: a busy intake
channel must not spend Slack's rate limit (users.lookupByEmail is Tier 3) on the same people again and again,
and a change of locale or address is picked up soon enough.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import i18n as messages

log = logging.getLogger(__name__)

CACHE_SECONDS = 300.0
MISS_CACHE_SECONDS = 60.0  # "no such address" is kept for less: the person may be invited any minute
CACHE_ENTRIES = 5_000
_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")


def is_slack_user(user_id: str | None) -> TypeGuard[str]:
    """A Slack user id (U…, W…), as opposed to a stand-in for a sender no Slack user has."""
    return bool(user_id) and bool(_SLACK_USER_ID.fullmatch(user_id or ""))


def stand_in_id(address: str) -> str:
    """A reporter id for an address no Slack user has: not a Slack id (nobody is messaged), stable per address."""
    return "mail:" + hashlib.sha256(address.strip().lower().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str | None  # None for guests without one, bots, or without the users:read.email scope
    locale: str | None
    is_bot: bool = False
    deleted: bool = False
    tz_offset: int = 0  # seconds east of UTC

    @property
    def language(self) -> str:
        return messages.language_for(self.locale)


class _Cache:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, Any]:
        with self._lock:
            found = self._items.get(key)
            if found is None or found[0] <= self._clock():
                return False, None
            return True, found[1]

    def put(self, key: str, value: Any, seconds: float) -> None:
        with self._lock:
            self._items[key] = (self._clock() + seconds, value)
            self._items.move_to_end(key)
            while len(self._items) > CACHE_ENTRIES:
                self._items.popitem(last=False)


class SlackDirectory:
    def __init__(self, client: WebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._people = _Cache(clock)
        self._addresses = _Cache(clock)

    def person(self, user_id: str) -> Person:
        """The user as Slack describes them. Raises SlackApiError when Slack cannot say."""
        hit, cached = self._people.get(user_id)
        if hit:
            return cached
        user = self._client.users_info(user=user_id, include_locale=True)["user"] or {}
        email = ((user.get("profile") or {}).get("email") or "").strip() or None
        tz_offset = user.get("tz_offset")
        person = Person(
            user_id=user_id,
            email=email,
            locale=user.get("locale") if isinstance(user.get("locale"), str) else None,
            is_bot=bool(user.get("is_bot")) or user_id == "USLACKBOT",
            deleted=bool(user.get("deleted")),
            tz_offset=tz_offset if isinstance(tz_offset, int) else 0,
        )
        self._people.put(user_id, person, CACHE_SECONDS)
        return person

    def language_of(self, user_id: str | None) -> str:
        """The reporter's language; English when Slack cannot say (a message must go out all the same)."""
        if not is_slack_user(user_id):
            return messages.ENGLISH
        try:
            return self.person(user_id).language
        except (SlackApiError, KeyError, TypeError) as exc:
            log.info("no locale for %s (%s); English it is", user_id, type(exc).__name__)
            return messages.ENGLISH

    def user_for_email(self, address: str) -> str | None:
        """The active, human Slack user with this email address, or None."""
        key = address.strip().lower()
        if not key or "@" not in key:
            return None
        hit, cached = self._addresses.get(key)
        if hit:
            return cached
        try:
            user = self._client.users_lookupByEmail(email=key)["user"] or {}
        except SlackApiError as exc:
            error = exc.response.get("error") if exc.response is not None else None
            if error in {"users_not_found", "user_not_found"}:
                self._addresses.put(key, None, MISS_CACHE_SECONDS)
                return None
            raise
        user_id = user.get("id") if not user.get("deleted") and not user.get("is_bot") else None
        self._addresses.put(key, user_id, CACHE_SECONDS if user_id else MISS_CACHE_SECONDS)
        return user_id
