"""The reporter's mailbox through Graph: the client's calls (through the one retry policy), the OData $filter
built from attacker text, the emulator's strict reading of it, and the memory of a refused Mail.Read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.header import Header

import httpx
import pytest

from bot.email.forwards import ForwardedOriginal
from bot.microsoft import (
    GraphClient,
    GraphError,
    MailAccessDenied,
    ReporterMailboxes,
    RetryPolicy,
    odata_string,
)
from bot.sandbox.graph_emulator import parse_message_filter
from bot.sandbox.tls import client_context

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, timeout=5.0)
BOX = "alice@contoso.example"
WHEN = datetime(2026, 11, 24, 9, 14, tzinfo=UTC)


def mime(subject: str, sender: str = "desk@evil.example", mid: str = "m") -> bytes:
    encoded = subject if subject.isascii() else Header(subject, "utf-8").encode()
    return (
        f"From: IT <{sender}>\r\nTo: {BOX}\r\nSubject: {encoded}\r\nMessage-ID: <{mid}@evil.example>\r\n"
        f"Date: Mon, 24 Nov 2026 09:14:00 +0000\r\n\r\nbody https://evil.example/{mid}\r\n"
    ).encode()


@pytest.fixture
def client(graph, tls):
    graph_client = GraphClient(
        tenant_id=graph.tenant_id,
        client_id=graph.client_id,
        client_secret=graph.client_secret,
        authority_host=graph.base_url,
        graph_url=graph.base_url,
        verify=client_context(tls.ca_file),
        retry=FAST,
    )
    yield graph_client
    graph_client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HOSTILE_SUBJECTS = [
    "It's urgent",
    "a' or subject eq 'b",
    "x' and from/emailAddress/address eq 'desk@evil.example",
    "''",
    "'",
    "100% & more; ?$filter=&$top=1#",
    "ünïcödé ✓",
]


def test_odata_string_doubles_quotes():
    assert odata_string("It's") == "'It''s'"
    assert odata_string("''") == "''''''"
    for subject in HOSTILE_SUBJECTS:
        [(field, operator, value)] = parse_message_filter(f"subject eq {odata_string(subject)}")
        assert (field, operator, value) == ("subject", "eq", subject)


@pytest.mark.parametrize("subject", HOSTILE_SUBJECTS)
def test_search_finds_exactly_the_message_whatever_its_subject(client, graph, subject):
    graph.add_mailbox_message(BOX, mime(subject, mid="hit"), received=WHEN)
    graph.add_mailbox_message(BOX, mime("a", mid="a"), received=WHEN)
    graph.add_mailbox_message(BOX, mime("b", mid="b"), received=WHEN)
    found = client.search_messages(
        BOX,
        received_after=WHEN - timedelta(hours=1),
        received_before=WHEN + timedelta(hours=1),
        subject=subject,
        sender="desk@evil.example",
    )
    assert [m.internet_message_id for m in found] == ["<hit@evil.example>"]
    assert found[0].subject == subject and found[0].received_at == WHEN


@pytest.mark.parametrize(
    "text",
    [
        "subject eq 'unterminated",
        "subject eq 'a'' ",
        "subject eq 'a' or subject eq 'b'",
        "subject eq 'a' and",
        "contains(subject,'a')",
        "bodyPreview eq 'a'",
        "subject gt 'a'",
        "receivedDateTime ge yesterday",
        "subject eq a",
        "subject eq 'a' subject eq 'b'",
        "isDraft eq maybe",
    ],
)
def test_the_emulator_refuses_any_other_filter(client, graph, text):
    graph.add_mailbox_message(BOX, mime("a"))
    with pytest.raises(ValueError):
        parse_message_filter(text)
    token = graph.issue_token()
    with httpx.Client(verify=client_context(graph.tls.ca_file)) as plain:
        response = plain.get(
            f"{graph.base_url}/v1.0/users/{BOX}/messages",
            params={"$filter": text},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 400
    assert "Invalid filter clause" in response.json()["error"]["message"]


def test_recent_messages_are_the_newest_received_ones(client, graph):
    for index in range(20):
        graph.add_mailbox_message(
            BOX, mime(f"n{index}", mid=f"n{index}"), received=WHEN - timedelta(hours=index)
        )
    graph.add_mailbox_message(BOX, mime("mine", sender=BOX, mid="own"), received=WHEN + timedelta(hours=1))
    graph.add_mailbox_message(
        BOX, mime("draft", mid="draft"), received=WHEN + timedelta(hours=2), is_draft=True
    )
    recent = client.recent_messages(BOX, count=15)
    assert [m.subject for m in recent] == [f"n{i}" for i in range(15)]
    assert recent[0].sender_name == "IT" and recent[0].sender_address == "desk@evil.example"


def test_mime_is_the_stored_message_and_is_bounded(client, graph):
    raw = mime("x", mid="x")
    message_id = graph.add_mailbox_message(BOX, raw)
    assert client.message_mime(BOX, message_id, max_bytes=1024 * 1024) == raw
    with pytest.raises(GraphError, match="larger than"):
        client.message_mime(BOX, message_id, max_bytes=10)


def test_mailbox_calls_go_through_the_retry_policy(client, graph):
    message_id = graph.add_mailbox_message(BOX, mime("x"))
    graph.fail_next("GET /v1.0/users/{u}/messages/{m}/$value", status=429, retry_after=0.01)
    graph.fail_next("GET /v1.0/users/{u}/messages", status=503)
    assert client.message_mime(BOX, message_id, max_bytes=10**6).startswith(b"From:")
    assert client.recent_messages(BOX)
    statuses = [r.status for r in graph.graph_requests() if "/messages" in r.path]
    assert statuses == [429, 200, 503, 200]


def test_a_refused_mail_read_is_remembered_for_an_hour(client, graph):
    clock = Clock()
    mailboxes = ReporterMailboxes(client, max_bytes=10**6, clock=clock)
    graph.add_mailbox_message(BOX, mime("x"))
    graph.mail_access = False
    with pytest.raises(MailAccessDenied):
        mailboxes.recent(BOX)
    assert not mailboxes.available
    asked = len(graph.graph_requests())
    with pytest.raises(MailAccessDenied):
        mailboxes.recent(BOX)
    forwarded = ForwardedOriginal(subject="x", sender_address="desk@evil.example", sent_at=WHEN)
    assert mailboxes.find_original(BOX, forwarded) is None
    assert len(graph.graph_requests()) == asked  # Graph is not asked again meanwhile
    graph.mail_access = True
    clock.now += 3601
    assert mailboxes.available and mailboxes.recent(BOX)


def test_find_original_prefers_the_closest_match(client, graph):
    mailboxes = ReporterMailboxes(client, max_bytes=10**6)
    graph.add_mailbox_message(BOX, mime("Invoice", mid="far"), received=WHEN - timedelta(hours=20))
    graph.add_mailbox_message(BOX, mime("Invoice", mid="near"), received=WHEN + timedelta(minutes=3))
    graph.add_mailbox_message(BOX, mime("Invoice", sender="other@evil.example", mid="other"), received=WHEN)
    naive = ForwardedOriginal(
        subject="Invoice", sender_address="desk@evil.example", sent_at=WHEN.replace(tzinfo=None)
    )
    assert b"<near@evil.example>" in mailboxes.find_original(BOX, naive)
    # Without the sender's address, the subject and the time decide.
    by_subject = ForwardedOriginal(subject="Invoice", sent_at=WHEN)
    assert b"<other@evil.example>" in mailboxes.find_original(BOX, by_subject)
    assert mailboxes.find_original(BOX, ForwardedOriginal(subject="Nothing like it", sent_at=WHEN)) is None
    assert mailboxes.find_original(BOX, ForwardedOriginal(subject="Invoice")) is None  # no time: no search
