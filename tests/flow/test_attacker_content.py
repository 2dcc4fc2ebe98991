"""Attacker-written content end to end: nothing in a reported email can ping a channel, mention someone,
show a live link, or make the bot contact a host named in it."""

from __future__ import annotations

import json
import re
import socket

import pytest
from conftest import ALICE, INTAKE

from bot.domain import CaseStatus

HOSTILE = (
    b'From: "<@U0SAMSOC1> <!channel> IT Support" <it@evil.example>\r\n'
    b"Reply-To: <!here>@evil.example\r\n"
    b"To: alice@contoso.example\r\n"
    b"Subject: <!channel> Reset now <https://evil.example/login|Microsoft 365> @here *urgent*\r\n"
    b"Message-ID: <a\"b'c|d union EmailEvents@evil.example>\r\n"
    b"Date: Tue, 14 May 2024 08:12:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain\r\n\r\n"
    b"Log in at http://evil.example/a?x=1 or https://xn--80ak6aa92e.com/ now <!everyone>\r\n"
    b"--b1\r\nContent-Type: text/html\r\n\r\n"
    b'<a href="https://phish.example/login">Microsoft</a> <img src="http://tracker.example/p.gif">\r\n'
    b"--b1--\r\n"
)
ALLOWED_LINK = re.compile(r"https://security\.microsoft\.com/[^\s\"'|>]*")


def everything_slack_was_sent(slack) -> str:
    sent = []
    for call in slack.calls:
        if call.method in {
            "chat.postMessage",
            "chat.update",
            "chat.postEphemeral",
            "views.open",
            "views.update",
        }:
            sent.append(json.dumps(call.args))
    sent.extend(json.dumps(r) for r in slack.responses)
    return "\n".join(sent)


@pytest.fixture
def hostnames_looked_up(monkeypatch):
    """A catch-all under every client: the names the process resolves while the test runs."""
    seen: list[str] = []
    real = socket.getaddrinfo

    def recording(host, *args, **kwargs):
        seen.append(host.decode() if isinstance(host, bytes) else str(host))
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    return seen


def test_a_hostile_email_pings_no_one_links_nothing_and_contacts_no_host_from_it(
    bot, slack, graph, hostnames_looked_up
):
    slack.upload_file(ALICE, INTAKE, "hostile.eml", HOSTILE)
    slack.wait_for(
        lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT and slack.dms(ALICE), timeout=20
    )
    sent = everything_slack_was_sent(slack)
    assert "Reset now" in sent  # the card really showed the subject

    # No broadcast, and the only mentions are the reporters phishbot itself names.
    for broadcast in ("<!channel>", "<!here>", "<!everyone>"):
        assert broadcast not in sent
    assert set(re.findall(r"<@(U[A-Z0-9]+)>", sent)) <= {ALICE}
    # No live link but the Defender portal: every URL from the email is defanged.
    without_portal = ALLOWED_LINK.sub("", sent)
    assert "http://" not in without_portal and "https://" not in without_portal
    assert re.search(r"<https?:(?!//security\.microsoft\.com/)", sent) is None
    assert "hxxps://phish[.]example/login" in sent

    # Nothing but loopback was ever resolved: no host from the email was contacted.
    assert hostnames_looked_up and set(hostnames_looked_up) <= {"127.0.0.1", "localhost"}


def test_a_hostile_message_id_is_kept_as_one_string(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "hostile.eml", HOSTILE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=20)
    message = bot.store.cases.case_view(1).message
    assert message.message_id == "a\"b'c|d union EmailEvents@evil.example"
    assert message.dedupe_key == "mid:a\"b'c|d union emailevents@evil.example"
