"""The App Home (views.publish, type home): for everyone, their own latest reports — what, where it stands,
Microsoft's verdict in plain words, what to do — and a button that opens the report form; for responders, the
open cases by what they wait for, with counts and a link to each card.

A person's home shows their own reports only; the open cases (everyone's) only when the server found them a
responder. Reporter words come in the person's language; the responders' part is English, like the card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bot.domain import CaseKind, CaseStatus, Verdict
from bot.microsoft import vocabulary as words
from bot.slack import i18n as messages
from bot.slack.cards.blockkit import (
    BlockKit,
    button,
    context,
    header,
    lines_within,
    section,
    slack_date,
)
from bot.slack.cards.reporter_messages import CaseLine
from bot.slack.contract import ActionId
from bot.slack.safe_text import mrkdwn

SUBJECT_SHOWN = 150
GROUP_TITLES = {
    "to_act": ":large_yellow_circle: Verdict in, nothing done yet",
    "running": ":hourglass_flowing_sand: Purge or block running",
    "waiting": ":outbox_tray: Waiting for Microsoft",
}


class HomeReport(CaseLine, Protocol):
    """One of the person's reports (the store's CaseSummary): a status line's facts, and how they reported it."""

    @property
    def kind(self) -> CaseKind: ...
    @property
    def url(self) -> str | None: ...
    @property
    def door(self) -> str: ...
    @property
    def reviewed_as(self) -> str | None: ...


class OpenCase(Protocol):
    @property
    def case_id(self) -> int: ...
    @property
    def kind(self) -> CaseKind: ...
    @property
    def status(self) -> CaseStatus: ...
    @property
    def subject(self) -> str: ...
    @property
    def url(self) -> str | None: ...
    @property
    def verdict(self) -> Verdict | None: ...


class OpenGroup(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def count(self) -> int: ...
    @property
    def cases(self) -> Sequence[OpenCase]: ...


def app_home(
    reports: Sequence[HomeReport],
    *,
    language: str = messages.ENGLISH,
    groups: Sequence[OpenGroup] | None = None,
    links: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The Home tab view. `groups`: the open cases, for a responder only; `links`: case id -> card permalink."""
    blocks: BlockKit = [
        header(messages.text(language, "home.title")),
        section(messages.text(language, "home.intro"), block_id="home_intro"),
        {
            "type": "actions",
            "block_id": "home_actions",
            "elements": [
                button(
                    messages.text(language, "home.report"), ActionId.HOME_REPORT, "report", style="primary"
                )
            ],
        },
    ]
    if reports:
        for report in reports:
            blocks.append(section(report_text(report, language), block_id=f"report_{report.case_id}"))
        blocks.append(context([messages.text(language, "home.more")], block_id="home_more"))
    else:
        blocks.append(section(messages.text(language, "home.none"), block_id="home_none"))
    if groups is not None:
        blocks.extend(responder_blocks(groups, links or {}))
    return {"type": "home", "blocks": blocks[:100]}


def _item(kind: CaseKind, subject: str, url: str | None, language: str) -> str:
    if kind == CaseKind.URL:
        return messages.text(language, "item.link", url=mrkdwn(url or subject, SUBJECT_SHOWN))
    if subject.strip():
        return messages.text(language, "item.email", subject=mrkdwn(subject, SUBJECT_SHOWN))
    return messages.text(language, "item.email_unnamed")


def _state_key(report: HomeReport) -> str:
    if report.status == CaseStatus.DISMISSED:
        return "home.state.dismissed"
    if report.status in (CaseStatus.GAVE_UP, CaseStatus.FAILED):
        return "home.state.gave_up"
    kind = words.verdict_kind(report.verdict)
    if report.status in (CaseStatus.SUBMITTING, CaseStatus.CHECKING) or kind == words.VerdictKind.PENDING:
        return "home.state.pending"
    return {
        words.VerdictKind.SIMULATION: "home.state.simulation",
        words.VerdictKind.MALICIOUS: "home.state.malicious",
        words.VerdictKind.SPAM: "home.state.spam",
        words.VerdictKind.CLEAN: "home.state.clean",
    }.get(kind, "home.state.unclear")


def report_text(report: HomeReport, language: str) -> str:
    """One report: what it was, where it stands and Microsoft's verdict in plain words, what to do."""
    is_link = report.kind == CaseKind.URL
    careful = messages.text(language, "careful.link" if is_link else "careful.email")
    wait = messages.text(language, "wait.link" if is_link else "wait.email")
    state = messages.text(language, _state_key(report), careful=careful, wait=wait)
    if report.reviewed_as:
        state += " " + messages.text(language, f"home.reviewed.{report.reviewed_as}")
    door = messages.text(language, "home.door.report_button") if report.door == "report_button" else ""
    when = messages.text(language, "home.reported", date=slack_date(report.created_at), door=door)
    item = _item(report.kind, report.subject, report.url, language)
    return f"*{item[:1].upper() + item[1:]}*\n{state}\n_{when}_"


def responder_blocks(groups: Sequence[OpenGroup], links: Mapping[int, str]) -> BlockKit:
    counts = " · ".join(f"{GROUP_TITLES.get(g.name, g.name)}: *{g.count}*" for g in groups)
    blocks: BlockKit = [
        {"type": "divider"},
        header("Open cases (responders)"),
        context([counts or "No open cases."], block_id="open_counts"),
    ]
    for group in groups:
        if not group.count:
            continue
        lines = [_open_line(case, links) for case in group.cases]
        more = group.count - len(group.cases)
        text = f"*{GROUP_TITLES.get(group.name, group.name)}* ({group.count})\n" + lines_within(lines, 2700)
        if more > 0:
            text += f"\n…and {more} more in the SOC channel"
        blocks.append(section(text, block_id=f"open_{group.name}"))
    return blocks


def _open_line(case: OpenCase, links: Mapping[int, str]) -> str:
    emoji, headline = words.verdict_headline(case.verdict, case.status)
    link = links.get(case.case_id)
    title = f"<{link}|Case #{case.case_id}>" if link else f"Case #{case.case_id}"
    if case.kind == CaseKind.URL:
        what = f"the link {mrkdwn(case.url or case.subject, 120)}"
    else:
        what = f"“{mrkdwn(case.subject, 120)}”" if case.subject.strip() else "_(no subject)_"
    return f"• {title}: {what} · {emoji} {mrkdwn(headline, 80)}"
