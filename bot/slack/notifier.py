"""Everything phishbot says in Slack after a listener has acked: the case card and messages to people.

The card is posted once and then edited in place. The post is claimed in the store first; a claim left behind
by a process that died mid-call is resolved by looking for the card (it carries the case id in its message
metadata) before posting again, so a restart never makes a second card.

Edits are coalesced: a change to a case marks its card dirty, and a draw is claimed in the store (one drawer per card
in any replica, CARD_EDIT_INTERVAL after the last one began). A change that finds the card drawing, just drawn, or
Slack's chat.update limit not yet waited out (bot/slack/rate_limits.py) leaves it dirty: the sweep's "card redraws"
step draws it once the interval has passed, with every change since. A storm of 200 reporters joining one case makes
a handful of edits, and the last one shows them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain import CaseStatus
from bot.runtime.logs import in_case
from bot.slack import cards
from bot.slack import i18n as messages
from bot.slack.directory import is_slack_user
from bot.slack.rate_limits import SlackRateLimits
from bot.store import CardPosts, Cases, Reporters

log = logging.getLogger(__name__)

CARD_EVENT_TYPE = "phishbot_case"
TOLD_STATUSES = frozenset({CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.DISMISSED})
# At most one chat.update per card this often (Tier 3 is ~50 a minute for the whole workspace): a couple of seconds
# is still "at once" to a responder watching the card, and leaves room for many cards changing together.
CARD_EDIT_INTERVAL = timedelta(seconds=2)


class SlackNotifier:
    def __init__(
        self,
        client: WebClient,
        card_posts: CardPosts,
        cases: Cases,
        reporters: Reporters,
        soc_channel: str,
        *,
        now: Callable[[], datetime],
        language_of: Callable[[str], str] | None = None,
        rate_limits: SlackRateLimits | None = None,
        edit_interval: timedelta = CARD_EDIT_INTERVAL,
    ) -> None:
        self._client = client
        self._rate_limits = rate_limits if rate_limits is not None else SlackRateLimits()
        self._edit_interval = edit_interval
        self._now = now  # the services' clock: the card's "next check in ~N min"
        self._card_posts = card_posts
        self._cases = cases
        self._reporters = reporters
        self._soc_channel = soc_channel
        # A reporter's language (bot.slack.directory.SlackDirectory.language_of); English when not given.
        self._language_of = language_of or (lambda _user_id: messages.ENGLISH)

    # --- the card ---------------------------------------------------------------------------------------------

    @in_case
    def sync_card(self, case_id: int, *, at_once: bool = False) -> None:
        """Bring the case's card up to date if anything changed since it was last drawn — now, or, when it was drawn
        less than the edit interval ago, is being drawn, or Slack asked to wait, in a later sweep (it stays dirty).
        `at_once`: the case's end (its verdict), drawn before the reporters are told, whatever the interval (once
        in a case's life; still one draw at a time, still after Retry-After)."""
        if (
            self._rate_limits.seconds_until("chat.update") > 0
            and self._card_posts.card_location(case_id) is not None
        ):
            return  # an edit now would be refused again; the sweep draws it once Retry-After has passed
        if not self._card_posts.take_card_dirty(case_id, timedelta(0) if at_once else self._edit_interval):
            return
        try:
            self._draw_card(case_id)
        finally:
            self._card_posts.card_drawn(case_id)

    def _draw_card(self, case_id: int) -> None:
        drawn_as_of = self._card_posts.case_updated_at(case_id)
        try:
            location = self._card_posts.card_location(case_id)
            if location is None:
                self._post_card(case_id)
            else:
                view = self._cases.case_view(case_id)
                text, blocks = cards.case_card(view, now=self._now())
                self._client.chat_update(channel=location[0], ts=location[1], text=text, blocks=blocks)
            if self._card_posts.case_updated_at(case_id) != drawn_as_of:
                # The case changed while this was drawn: an edit from another thread or replica may have
                # landed before this older one. Draw once more so the newest state is the last word.
                self._card_posts.mark_card_dirty(case_id)
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "message_not_found":
                # Someone deleted the card: the case is still open, so it gets a new one.
                log.warning("case %s: its card was deleted in Slack; posting a new one", case_id)
                self._card_posts.forget_card(case_id)
            else:
                log.warning("case %s: card not updated (%s); will retry", case_id, error)
            self._card_posts.mark_card_dirty(case_id)
        except Exception:
            self._card_posts.mark_card_dirty(case_id)
            raise

    def _post_card(self, case_id: int) -> None:
        previous_claim = self._card_posts.card_claim_time(case_id)
        if not self._card_posts.claim_card_post(case_id):
            self._card_posts.mark_card_dirty(case_id)  # another worker is posting; draw again after it
            return
        try:
            if previous_claim is not None:
                found = self._find_card(case_id, since=previous_claim)
                if found is not None:
                    self._card_posts.record_card_posted(case_id, self._soc_channel, found)
                    self._card_posts.mark_card_dirty(case_id)  # the found card may be stale: edit it next
                    return
            view = self._cases.case_view(case_id)
            text, blocks = cards.case_card(view, now=self._now())
            response = self._client.chat_postMessage(
                channel=self._soc_channel,
                text=text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": CARD_EVENT_TYPE, "event_payload": {"case_id": case_id}},
            )
            self._card_posts.record_card_posted(case_id, response["channel"], response["ts"])
        except Exception:
            self._card_posts.release_card_claim(case_id)
            raise

    def _find_card(self, case_id: int, *, since: datetime) -> str | None:
        oldest = f"{since.timestamp() - 60:.6f}"
        cursor = None
        for _ in range(10):
            response = self._client.conversations_history(
                channel=self._soc_channel, oldest=oldest, limit=200, include_all_metadata=True, cursor=cursor
            )
            for message in response.get("messages") or []:
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == CARD_EVENT_TYPE and payload.get("case_id") == case_id:
                    return message.get("ts")
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    def cards_to_draw(self) -> list[int]:
        """The dirty cards that may be drawn now (the sweep's "card redraws")."""
        if self._rate_limits.seconds_until("chat.update") > 0:
            return []  # Retry-After not over: none now (a card not posted yet goes at the next round)
        return self._card_posts.cards_to_draw(self._edit_interval)

    # --- people -----------------------------------------------------------------------------------------------

    @in_case
    def tell_outcome(self, case_id: int) -> None:
        """Tell every reporter of a finished case the outcome, once each."""
        view = self._cases.case_view(case_id)
        if view.status not in TOLD_STATUSES:
            return
        for reporter in self._reporters.reporters_to_tell(case_id):
            if not is_slack_user(reporter.user_id):
                # An address no Slack user has (an Email-app forward, the Report button): nobody to message here.
                self._reporters.claim_reporter_outcome(reporter.reporter_row_id)
                continue
            # Claimed until Slack confirms: a process killed meanwhile leaves the reporter untold, and the next
            # one tells them (should Slack have posted it without answering, they hear it twice).
            if not self._reporters.claim_outcome_message(reporter.reporter_row_id):
                continue
            text, blocks = cards.reporter_outcome(view, self._language_of(reporter.user_id))
            try:
                self.direct_message(reporter.user_id, text, blocks)
            except SlackApiError as exc:
                log.warning(
                    "case %s: outcome not delivered (%s); will retry", case_id, exc.response.get("error")
                )
                self._reporters.release_reporter_outcome(reporter.reporter_row_id)
                continue
            self._reporters.outcome_message_sent(reporter.reporter_row_id)

    def direct_message(self, user_id: str, text: str, blocks: list[dict]) -> None:
        channel = self._client.conversations_open(users=user_id)["channel"]["id"]
        self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)

    def ephemeral(self, channel_id: str | None, user_id: str, text: str, blocks: list[dict]) -> None:
        """Show a message to one person where they are; a DM when there is no channel or it fails."""
        if channel_id:
            try:
                self._client.chat_postEphemeral(channel=channel_id, user=user_id, text=text, blocks=blocks)
                return
            except SlackApiError as exc:
                log.info(
                    "ephemeral in %s failed (%s); sending a DM instead", channel_id, exc.response.get("error")
                )
        try:
            self.direct_message(user_id, text, blocks)
        except SlackApiError as exc:
            # Nowhere left to say it (a deactivated account, DMs closed to apps): the work it answers is done.
            log.warning("could not tell %s anything (%s)", user_id, exc.response.get("error"))

    def channel_notice(self, channel_id: str, text: str, *, thread_ts: str | None = None) -> None:
        """A short message everyone in a channel sees (e.g. an intake channel: a forward phishbot could not
        match to a person), in the thread of what it is about."""
        safe_text, blocks = cards.notice(text)
        try:
            self._client.chat_postMessage(
                channel=channel_id, text=safe_text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
            )
        except SlackApiError as exc:
            log.warning("notice in %s not posted (%s)", channel_id, exc.response.get("error"))
