"""phishbot's Home tab through the real bot: `app_home_opened` is answered with `views.publish`; a reporter sees
their email and link reports (and their Report-button ones) with Microsoft's verdict in words, another employee
sees none of them, a responder sees the open cases with a link to each card; a home is published again when one of
its cases changes, and its button opens the report form."""

from __future__ import annotations

import json
from importlib import resources

from conftest import ALICE, EMAILS, INTAKE, OUTSIDER, RESPONDER, SOC

from bot.domain import CaseStatus
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
LINK = "https://login-micros0ft-secure.example/password-reset"
REFRESH_GAP = 30  # bot.cases.app_home.REFRESH_GAP, in seconds


def home(slack, user_id) -> str:
    return json.dumps(slack.homes.get(user_id) or {}, ensure_ascii=False)


def published(slack, user_id) -> int:
    return len([c for c in slack.calls_to("views.publish") if c.args.get("user_id") == user_id])


def test_a_reporter_an_outsider_and_a_responder_each_see_their_own_home(bot, slack, graph, report_button):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    slack.slash_command(ALICE, LINK, channel_id=INTAKE)
    bot.until(lambda: all(bot.store.cases.case_view(n).status is CaseStatus.VERDICT for n in (1, 2)))
    slack.wait_for(lambda: len(slack.messages(SOC)) == 2)

    slack.open_app_home(ALICE)
    mine = slack.wait_for(lambda: home(slack, ALICE) if slack.homes.get(ALICE) else None)
    assert "Action required: your password expires" in mine  # the email's subject
    assert "hxxps://login-micros0ft-secure[.]example/password-reset" in mine  # the link, defanged
    assert LINK not in mine
    assert "Microsoft: malicious" in mine and "Don't click its links" in mine
    assert ActionId.HOME_REPORT in mine and "Open cases" not in mine

    slack.open_app_home(OUTSIDER)
    theirs = slack.wait_for(lambda: home(slack, OUTSIDER) if slack.homes.get(OUTSIDER) else None)
    assert "You haven't reported anything yet." in theirs
    assert "password expires" not in theirs and "micros0ft" not in theirs and "Open cases" not in theirs

    slack.open_app_home(RESPONDER)
    soc = slack.wait_for(lambda: home(slack, RESPONDER) if slack.homes.get(RESPONDER) else None)
    assert "Open cases (responders)" in soc
    assert "Verdict in, nothing done yet: *2*" in soc
    permalinks = [c.args for c in slack.calls_to("chat.getPermalink")]
    assert {p["message_ts"] for p in permalinks} == {m.ts for m in slack.messages(SOC)}
    assert "|Case #1>" in soc and "|Case #2>" in soc

    # The Messages tab opens the same event: no home is published for it.
    before = published(slack, OUTSIDER)
    slack.open_app_home(OUTSIDER, tab="messages")
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)
    assert published(slack, OUTSIDER) == before


def test_a_home_is_published_again_when_one_of_its_cases_changes(bot, slack, graph, report_button):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    slack.open_app_home(ALICE)
    slack.open_app_home(OUTSIDER)
    slack.wait_for(lambda: slack.homes.get(ALICE) and slack.homes.get(OUTSIDER))
    alices, outsiders = published(slack, ALICE), published(slack, OUTSIDER)

    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.DISMISS in str(m.blocks)])[0]
    slack.click(RESPONDER, ActionId.DISMISS, "1", card)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.DISMISSED)
    bot.sweep(after=REFRESH_GAP)
    slack.wait_for(lambda: "Security looked at it: not a threat." in home(slack, ALICE))
    assert published(slack, ALICE) > alices
    assert published(slack, OUTSIDER) == outsiders  # not one of their cases

    # A message Alice reports with the Report button shows on her home too, once listed.
    report_button.press(EMAILS[ALICE], _other_phish())
    bot.sweep(after=60)
    bot.sweep(after=REFRESH_GAP)
    slack.wait_for(lambda: "with the Report button" in home(slack, ALICE))


def test_the_homes_button_opens_the_report_form(bot, slack, graph):
    slack.open_app_home(ALICE)
    slack.wait_for(lambda: slack.homes.get(ALICE))
    slack.click_in_home(ALICE, ActionId.HOME_REPORT)
    entries = lambda: [e for e in list(slack.views.values()) if e["user"] == ALICE and e["open"]]  # noqa: E731
    view = slack.wait_for(lambda: next((e["view"] for e in entries() if e["view"]["callback_id"]), None))
    assert view["callback_id"] == ModalCallback.REPORT


def _other_phish() -> bytes:
    return (
        b"From: IT <it@evil.example>\r\nTo: alice@contoso.example\r\nSubject: Your mailbox is full\r\n"
        b"Message-ID: <home-1@evil.example>\r\nDate: Tue, 02 Dec 2026 09:00:00 +0000\r\n\r\nVerify your account.\r\n"
    )
