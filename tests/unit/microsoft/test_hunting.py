"""The KQL phishbot sends: one escaping function for every value from an email, the query shapes, and the
rules that split a purge into remediate calls. Checked against an independent reading of KQL literals and
against the sandbox's interpreter (which refuses anything it does not understand)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from bot.cases.block_list import next_allowed
from bot.cases.remediation_runner import PER_RECIPIENT, REMEDIATE_BATCH, remediation_chunks
from bot.microsoft import KqlValueError, hunting, kql_string
from bot.sandbox.defender import DefenderTenant, KqlError, run_kql, string_literals

KQL_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def independent_decode(literal: str) -> str:
    escapes = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes[m.group(1)], literal[1:-1])


HOSTILE = [
    "<plain@example.com>",
    "<a\"b'c|d\nunion EmailEvents@x>",
    'quote " in the middle',
    "back\\slash at the end\\",
    '\\"',  # an escaped quote attempt: backslash then quote
    "pipe | where 1 == 1 | take 1",
    "line one\nline two\n| union DeviceEvents",
    "tab\there",
    '"; let x = EmailEvents; x | take 1; //',
    "' or 1=1 --",
    "let union where project distinct take ago(1d) in and or",
    "ünïcödé ✉ 🎣 \u202e right-to-left",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_every_value_becomes_exactly_one_literal_that_reads_back_the_same(value):
    literal = kql_string(value)
    assert KQL_LITERAL.fullmatch(literal), literal
    assert independent_decode(literal) == value
    assert string_literals(f"EmailEvents | where Subject == {literal}") == [value]
    assert "\n" not in literal and "\r" not in literal


@pytest.mark.parametrize(
    "value", ["carriage\rreturn", "nul\x00byte", "bell\x07", "escape\x1b[31m", "del\x7f"]
)
def test_control_characters_without_a_documented_escape_are_refused(value):
    with pytest.raises(KqlValueError):
        kql_string(value)


def test_an_overlong_value_is_refused():
    with pytest.raises(KqlValueError):
        kql_string("x" * (hunting.MAX_VALUE_CHARS + 1))


def tenant_tables():
    tenant = DefenderTenant()
    reported = tenant.deliver(
        "<a\"b'c|d\nunion EmailEvents@x>",
        sender="evil@bad.example",
        subject='Pay "now" | today',
        recipients=["a@c.example", "b@c.example"],
        urls=["https://bad.example/x"],
    )
    same = tenant.deliver(
        "<two@bad.example>",
        sender="EVIL@bad.example",
        subject='Pay "now" | today',
        recipients=["c@c.example"],
    )
    link = tenant.deliver(
        "<three@else.example>",
        sender="x@else.example",
        subject="hi",
        recipients=["d@c.example"],
        urls=["https://bad.example/x"],
    )
    tenant.deliver("<four@ok.example>", sender="x@ok.example", subject="hi", recipients=["e@c.example"])
    tables = {"EmailEvents": tenant.events, "EmailUrlInfo": tenant.url_info, "UrlClickEvents": tenant.clicks}
    return tables, reported, same, link


def test_the_query_shapes_find_the_message_and_the_campaign():
    tables, reported, same, link = tenant_tables()
    now = datetime.now(UTC)
    message_id = "a\"b'c|d\nunion EmailEvents@x"  # as the parser keeps it, without brackets
    rows, _ = run_kql(hunting.copies_query(message_id, campaign=False), tables, now=now)
    assert {(c.network_message_id, c.recipient) for c in hunting.copies_from_rows(rows)} == {
        (reported, "a@c.example"),
        (reported, "b@c.example"),
    }
    query = hunting.copies_query(
        message_id, campaign=True, sender="evil@bad.example", subject='Pay "now" | today'
    )
    rows, _ = run_kql(query, tables, now=now)
    assert {c.recipient for c in hunting.copies_from_rows(rows)} == {
        "a@c.example",
        "b@c.example",
        "c@c.example",
        "d@c.example",
    }


def test_text_pasted_into_a_query_unescaped_is_not_read_as_a_value():
    tables, *_ = tenant_tables()
    injected = 'EmailEvents | where InternetMessageId == "<x>" or 1 == 1 | take 1'
    with pytest.raises(KqlError):
        run_kql(injected, tables, now=datetime.now(UTC))  # the interpreter knows no `1 == 1`, and never evals
    with pytest.raises(KqlError):
        run_kql('EmailEvents | where Subject == "a\\qb"', tables, now=datetime.now(UTC))  # unknown escape


def test_old_rows_are_outside_the_look_back():
    tenant = DefenderTenant()
    tenant.deliver(
        "<old@x>",
        sender="s@x",
        subject="s",
        recipients=["a@c.example"],
        received=datetime.now(UTC) - timedelta(days=31),
    )
    rows, _ = run_kql(
        hunting.copies_query("old@x", campaign=False), {"EmailEvents": tenant.events}, now=datetime.now(UTC)
    )
    assert rows == []


def test_clicks_query_reads_both_message_copies_and_urls():
    query = hunting.clicks_query("m@x", ["https://a.example/", "https://a.example/", "https://b.example/"])
    assert string_literals(query) == ["<m@x>", "https://a.example/", "https://b.example/"]
    assert hunting.clicks_query(None, ["https://a.example/"]).startswith("UrlClickEvents")
    with pytest.raises(KqlValueError):
        hunting.clicks_query(None, [])


def test_done_means_the_action_took_effect():
    assert hunting.is_done("softDelete", "Deleted items")
    assert not hunting.is_done("softDelete", "Inbox/folder") and not hunting.is_done("softDelete", "")
    assert hunting.is_done("moveToJunk", "Junk folder") and not hunting.is_done("moveToJunk", "Deleted items")
    assert hunting.is_done("moveToInbox", "Inbox/folder") and not hunting.is_done(
        "moveToInbox", "Junk folder"
    )


def pairs(count, recipients):
    return [
        SimpleNamespace(network_message_id=f"n{i}", recipient=f"r{i % recipients}@c.example")
        for i in range(count)
    ]


def test_remediate_calls_stay_within_50000_emails():
    chunks = remediation_chunks(pairs(120_000, 120_000))
    assert [len(c) for c in chunks] == [REMEDIATE_BATCH, REMEDIATE_BATCH, 20_000]


def test_few_recipients_with_many_messages_get_at_most_1000_each_per_call():
    items = pairs(5_000, 2)  # recipients are 0.04% of the messages: Microsoft's 40% rule applies
    chunks = remediation_chunks(items)
    for chunk in chunks:
        per_recipient = {}
        for item in chunk:
            per_recipient[item.recipient] = per_recipient.get(item.recipient, 0) + 1
        assert max(per_recipient.values()) <= PER_RECIPIENT
    assert sorted(i.network_message_id for c in chunks for i in c) == sorted(
        i.network_message_id for i in items
    )


def test_the_same_message_goes_once_per_15_minutes_and_three_times_per_day():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert next_allowed([], now) == now
    assert next_allowed([now - timedelta(minutes=5)], now) == now + timedelta(minutes=10)
    assert next_allowed([now - timedelta(minutes=20)], now) == now
    three = [now - timedelta(hours=5), now - timedelta(hours=3), now - timedelta(hours=1)]
    assert next_allowed(three, now) == three[0] + timedelta(hours=24)
    assert next_allowed([now - timedelta(hours=30), *three[1:]], now) == now
