"""The weekly digest: how the programme went, as a short message and a chart, posted to one channel.

Everything comes from tables the bot already keeps: cases and reporters (reports, top reporters), verdicts
(mix, time to verdict), and the audit log (messages purged, clicks found: the purge and who-clicked services
record what they did as `report.purge` / `report.who_clicked` entries with outcome `done` and a `count`
field in their details). The leader's scheduler posts it at the configured time; `phishbot digest --now` posts
it at once.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.cases.chart import Series, stacked_bars_png
from bot.domain import CaseStatus, Verdict
from bot.microsoft import VerdictKind, verdict_kind
from bot.slack.contract import ActionId
from bot.store import OLD_TEXT, DigestFacts, Digests, Idempotency

log = logging.getLogger(__name__)

PURGE_ACTION, CLICKS_ACTION = ActionId.PURGE, ActionId.WHO_CLICKED
WINDOW = timedelta(days=7)

# The chart's groups, bottom of the bar first.
GROUPS: tuple[tuple[str, str, tuple[int, int, int]], ...] = (
    ("threat", "threat", (214, 48, 49)),
    ("spam", "spam", (240, 147, 43)),
    ("clean", "clean", (39, 174, 96)),
    ("other", "other", (52, 152, 219)),
    ("waiting", "waiting", (170, 174, 182)),
)
_GROUP_WORDS = {
    "threat": "threats",
    "spam": "spam",
    "clean": "clean",
    "other": "other outcomes (policy, simulation, no decision, dismissed)",
    "waiting": "still waiting",
}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
# The count of an entry written with fields ("messages", "purged", "clicks": early JSON details used them).
_COUNT_FIELDS = ("count", "messages", "purged", "clicks")
# The count in an old free-text detail.
_OLD_COUNT_PATTERNS = (
    re.compile(r"\b(?:count|purged|moved|deleted)\s*[=:]\s*(\d+)", re.IGNORECASE),
    re.compile(r"\b(\d+)\s+(?:messages?|cop(?:y|ies)|clicks?|users?|people)\b", re.IGNORECASE),
    re.compile(r"(\d+)"),
)


@dataclass(frozen=True)
class DigestMessage:
    text: str
    chart_png: bytes
    chart_alt: str
    file_name: str


class Digest:
    def __init__(
        self,
        digests: Digests,
        idempotency: Idempotency,
        client: WebClient,
        *,
        channel: str | None,
        timezone: str = "UTC",
    ) -> None:
        self._digests = digests
        self._idempotency = idempotency
        self._client = client
        self._channel = channel
        self._zone = ZoneInfo(timezone)

    @property
    def channel(self) -> str | None:
        return self._channel

    def build(self, until: datetime | None = None) -> DigestMessage:
        until = until or self._digests.database.now()  # the store's clock, the services' one
        since = until - WINDOW
        facts = self._digests.facts(since, until, audit_actions=(PURGE_ACTION, CLICKS_ACTION))
        return compose(facts, since, until, self._zone)

    def post(self, *, until: datetime | None = None, channel: str | None = None) -> DigestMessage:
        """Post the digest (message and chart) now; raises SlackApiError when Slack refuses."""
        channel = channel or self._channel
        if not channel:
            raise ValueError("no digest channel: set PHISHBOT_DIGEST_CHANNEL (or pass --channel)")
        message = self.build(until)
        self._client.files_upload_v2(
            channel=channel,
            content=message.chart_png,
            filename=message.file_name,
            title="Reports per day by verdict",
            alt_txt=message.chart_alt,
            initial_comment=message.text,
        )
        log.info("weekly digest posted to %s", channel)
        return message

    def post_scheduled(self, fire_time: datetime) -> bool:
        """The scheduled run: once per fire time across replicas (and restarts), even during a fail-over."""
        key = f"digest:{fire_time.astimezone(UTC).isoformat(timespec='seconds')}"
        if not self._idempotency.first_time(key):
            log.info("digest for %s was already posted", fire_time.isoformat(timespec="minutes"))
            return False
        try:
            self.post(until=fire_time)
        except Exception:
            self._idempotency.forget(
                key
            )  # not posted: the next run (or `phishbot digest --now`) may try again
            raise
        return True


def compose(facts: DigestFacts, since: datetime, until: datetime, zone: ZoneInfo) -> DigestMessage:
    groups = {name: 0 for name, _, _ in GROUPS}
    days = [(since + timedelta(days=i)).astimezone(zone).date() for i in range(1, 8)]
    per_day = {name: [0] * len(days) for name, _, _ in GROUPS}
    for case in facts.cases:
        group = _group(case.status, case.verdict)
        groups[group] += 1
        day = case.created_at.astimezone(zone).date()
        if day in days:
            per_day[group][days.index(day)] += 1
        elif day < days[0]:
            per_day[group][0] += 1  # the window's first hours belong to the day before; show them on day one
    purges = [e for e in facts.audit if e[0] == PURGE_ACTION and e[1] == "done"]
    click_checks = [e for e in facts.audit if e[0] == CLICKS_ACTION and e[1] == "done"]
    purged = sum(_count(details) for _, _, details in purges)
    clicks = sum(_count(details) for _, _, details in click_checks)

    period = f"{since.astimezone(zone):%d %b} – {until.astimezone(zone):%d %b %Y}"
    lines = [f"*phishbot weekly digest* · {period}"]
    lines.append(f"• *Reports received:* {facts.reports} ({len(facts.cases)} new case(s))")
    mix = [f"{groups[name]} {_GROUP_WORDS[name]}" for name, _, _ in GROUPS if groups[name]]
    lines.append(f"• *Verdicts:* {', '.join(mix) if mix else 'no cases this week'}")
    if facts.seconds_to_verdict:
        median = statistics.median(facts.seconds_to_verdict)
        p90 = _percentile(facts.seconds_to_verdict, 90)
        lines.append(
            f"• *Time to verdict:* median {_duration(median)}, 90th percentile {_duration(p90)}"
            f" ({len(facts.seconds_to_verdict)} verdict(s))"
        )
    else:
        lines.append("• *Time to verdict:* no verdicts this week")
    lines.append(f"• *Messages purged:* {purged}" + (f" in {len(purges)} purge(s)" if purges else ""))
    lines.append(
        f"• *Clicks found:* {clicks}" + (f" in {len(click_checks)} check(s)" if click_checks else "")
    )
    reporters = [(u, n) for u, n in facts.top_reporters if _USER_ID.match(u)]
    if reporters:
        lines.append(
            "• *Top reporters:* " + ", ".join(f"<@{u}> ({n})" for u, n in reporters) + " — thank you!"
        )
    series = [Series(label, color, per_day[name]) for name, label, color in GROUPS]
    labels = [f"{d:%m-%d}" for d in days]
    alt = "Reports per day by verdict: " + "; ".join(
        f"{labels[i]}: " + ", ".join(f"{per_day[n][i]} {n}" for n, _, _ in GROUPS if per_day[n][i])
        if any(per_day[n][i] for n, _, _ in GROUPS)
        else f"{labels[i]}: none"
        for i in range(len(days))
    )
    png = stacked_bars_png("REPORTS PER DAY BY VERDICT", labels, series)
    return DigestMessage(
        text="\n".join(lines),
        chart_png=png,
        chart_alt=alt[:1000],
        file_name=f"phishbot-digest-{until.astimezone(zone):%Y-%m-%d}.png",
    )


def _group(status: CaseStatus, category: str | None) -> str:
    if status is CaseStatus.DISMISSED:
        return "other"
    if category is None:
        return "waiting" if status in (CaseStatus.SUBMITTING, CaseStatus.CHECKING) else "other"
    kind = verdict_kind(Verdict(status="succeeded", category=category))
    return {VerdictKind.MALICIOUS: "threat", VerdictKind.SPAM: "spam", VerdictKind.CLEAN: "clean"}.get(
        kind, "other"
    )


def _count(details: Mapping[str, Any]) -> int:
    """The number an audit entry reports: its `count` field. Entries written before details had fields hold
    free text (`{"text": …}`), read as they always were: `count=n`, `n messages`, or the first number in it."""
    for key in _COUNT_FIELDS:
        value = details.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    text = str(details.get(OLD_TEXT) or "")
    for pattern in _OLD_COUNT_PATTERNS:
        match = pattern.search(text)
        if match:
            return int(match.group(1)[:9])
    return 0


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = max(int(-(-percent * len(ordered) // 100)) - 1, 0)  # nearest-rank
    return ordered[min(rank, len(ordered) - 1)]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"
