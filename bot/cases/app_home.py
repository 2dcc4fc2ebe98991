"""The App Home: published when a person opens phishbot's Home tab (`app_home_opened` → `views.publish`), and
published again by the sweep when one of the cases it shows changes.

Everyone sees their own latest reports; a responder (the server asks `Authorizer`, fail-closed) also sees the open
cases, counted by what they wait for, each linked to its card. Nobody else's reports reach a non-responder's home.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime.clock import Clock, SystemClock
from bot.slack import cards
from bot.slack.authz import Authorizer
from bot.slack.directory import SlackDirectory, is_slack_user
from bot.store import AppHomes, OpenCaseGroup

log = logging.getLogger(__name__)

# A home is published again at most this often when its cases keep changing (views.publish is rate limited).
REFRESH_GAP = timedelta(seconds=30)
REPORTS_SHOWN = 10
PERMALINKS_KEPT = 2_000


class AppHome:
    def __init__(
        self,
        *,
        homes: AppHomes,
        authorizer: Authorizer,
        directory: SlackDirectory,
        slack: WebClient,
        clock: Clock | None = None,
    ) -> None:
        self._homes = homes
        self._authorizer = authorizer
        self._directory = directory
        self._slack = slack
        self._clock = clock if clock is not None else SystemClock()
        self._permalinks: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._lock = threading.Lock()

    def opened(self, user_id: str) -> None:
        """The person opened the Home tab: publish it now, and keep it up to date from now on."""
        if not is_slack_user(user_id):
            return
        self._homes.opened(user_id)
        self.publish(user_id)

    # --- the sweep's step ---------------------------------------------------------------------------------

    def stale(self, now: datetime) -> list[str]:
        return self._homes.stale_homes(now)

    def publish(self, user_id: str) -> None:
        responder = self._authorizer.check(user_id).allowed
        facts = self._homes.facts(user_id, responder=responder, reports=REPORTS_SHOWN)
        view = cards.app_home(
            facts.reports,
            language=self._directory.language_of(user_id),
            groups=facts.groups,
            links=self._links(facts.groups) if facts.groups else None,
        )
        try:
            self._slack.views_publish(user_id=user_id, view=view)
        except SlackApiError as exc:
            # Marked published all the same: a home Slack refuses (a deactivated account) is not asked again
            # until one of its cases changes once more.
            log.warning("App Home of %s not published (%s)", user_id, exc.response.get("error"))
        self._homes.published(
            user_id,
            read_at=facts.read_at,
            responder=responder,
            refresh_after=self._clock.now() + REFRESH_GAP,
        )

    def _links(self, groups: list[OpenCaseGroup]) -> dict[int, str]:
        links: dict[int, str] = {}
        for group in groups:
            for case in group.cases:
                if case.card is not None:
                    link = self._permalink(*case.card)
                    if link:
                        links[case.case_id] = link
        return links

    def _permalink(self, channel: str, ts: str) -> str | None:
        with self._lock:
            known = self._permalinks.get((channel, ts))
        if known is not None:
            return known
        try:
            link = str(self._slack.chat_getPermalink(channel=channel, message_ts=ts).get("permalink") or "")
        except SlackApiError as exc:
            log.info("no permalink for a card (%s)", exc.response.get("error"))
            return None
        # Slack's own answer, but it goes inside <…|…>: only a plain web link is used.
        if not link.startswith(("https://", "http://")) or any(ch in link for ch in "<>| \n"):
            return None
        with self._lock:
            self._permalinks[(channel, ts)] = link
            while len(self._permalinks) > PERMALINKS_KEPT:
                self._permalinks.popitem(last=False)
        return link
