"""An inline forward's header block, as Outlook, Gmail and Apple Mail write it in English and Dutch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.email import ForwardedOriginal, find_forwarded_original, parse_forward_date

CET = timezone(timedelta(hours=1))

FORMS = {
    "outlook-en": """Can you check this?

________________________________
From: IT Desk <desk@evil.example>
Sent: Monday, November 24, 2026 9:14 AM
To: Alice <alice@contoso.example>
Subject: Your mailbox is full

body""",
    "outlook-en-gb-original-message": """-----Original Message-----
From: IT Desk [mailto:desk@evil.example]
Sent: 24 November 2026 09:14
To: Alice
Subject: Your mailbox is full
""",
    "outlook-nl": """________________________________
Van: IT Desk <desk@evil.example>
Verzonden: maandag 24 november 2026 09:14
Aan: Alice <alice@contoso.example>
Onderwerp: Your mailbox is full
""",
    "outlook-nl-oorspronkelijk": """-----Oorspronkelijk bericht-----
Van: IT Desk <desk@evil.example>
Verzonden: maandag 24 november 2026 09:14
Aan: Alice
Onderwerp: Your mailbox is full
""",
    "gmail-en": """---------- Forwarded message ---------
From: IT Desk <desk@evil.example>
Date: Mon, Nov 24, 2026 at 9:14 AM
Subject: Your mailbox is full
To: <alice@contoso.example>
""",
    "gmail-nl": """---------- Doorgestuurd bericht ---------
Van: IT Desk <desk@evil.example>
Date: ma 24 nov 2026 om 09:14
Subject: Your mailbox is full
To: <alice@contoso.example>
""",
    "apple-en": """Begin forwarded message:

From: IT Desk <desk@evil.example>
Subject: Your mailbox is full
Date: 24 November 2026 at 09:14:00 CET
To: Alice <alice@contoso.example>
""",
    "apple-nl": """Begin doorgestuurd bericht:

Van: IT Desk <desk@evil.example>
Onderwerp: Your mailbox is full
Datum: 24 november 2026 om 09:14:00 CET
Aan: Alice <alice@contoso.example>
""",
    "slack-rendered-bold-and-quoted": """> *From:* IT Desk <mailto:desk@evil.example|desk@evil.example>
> *Sent:* Monday, November 24, 2026 9:14 AM
> *Subject:* Your mailbox is full
""",
}


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_every_common_form_gives_sender_subject_and_time(form):
    found = find_forwarded_original(FORMS[form])
    assert found is not None
    assert found.sender_address == "desk@evil.example"
    assert found.sender_name == "IT Desk"
    assert found.subject == "Your mailbox is full"
    expected = datetime(2026, 11, 24, 9, 14)
    if form.startswith("apple"):
        assert found.sent_at == expected.replace(tzinfo=CET)
    else:
        assert found.sent_at == expected
    assert found.searchable


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Monday, November 24, 2026 9:14 PM", datetime(2026, 11, 24, 21, 14)),
        ("Tuesday, 2 December 2025 00:05", datetime(2025, 12, 2, 0, 5)),
        ("dinsdag 2 december 2025 12:30", datetime(2025, 12, 2, 12, 30)),
        ("vr 2 jan. 2026 om 12:05", datetime(2026, 1, 2, 12, 5)),
        ("Fri, Jan 2, 2026 at 12:05 AM", datetime(2026, 1, 2, 0, 5)),
        ("2 mei 2026 om 08:00:00 CEST", datetime(2026, 5, 2, 8, 0, tzinfo=timezone(timedelta(hours=2)))),
        ("Mon, 24 Nov 2026 09:14:00 +0000", datetime(2026, 11, 24, 9, 14, tzinfo=UTC)),
        ("2026-11-24 09:14", datetime(2026, 11, 24, 9, 14)),
        ("24-11-2026 21:14", datetime(2026, 11, 24, 21, 14)),
        ("November 24, 2026 at 9:14:05 PM GMT+1", datetime(2026, 11, 24, 21, 14, 5, tzinfo=CET)),
        ("maart 3 2026", datetime(2026, 3, 3)),
    ],
)
def test_dates_in_english_and_dutch(text, expected):
    assert parse_forward_date(text) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "31 February 2026 10:00", "sometime in 2026", "9:14"])
def test_unreadable_dates_are_none(text):
    assert parse_forward_date(text) is None


def test_no_forward_block_is_none():
    assert find_forwarded_original("From the desk of the CEO: please buy gift cards.\nThanks") is None
    assert find_forwarded_original("") is None
    # A From: line with nothing after it that looks like a header block.
    assert find_forwarded_original("From: someone\n\nHello") is None


def test_the_first_block_is_the_forwarded_message():
    text = FORMS["outlook-en"] + "\n\n" + FORMS["gmail-en"].replace("desk@evil.example", "other@evil.example")
    assert find_forwarded_original(text).sender_address == "desk@evil.example"


def test_a_sender_without_an_address_keeps_the_name():
    found = find_forwarded_original("From: IT Desk\nSent: Monday, November 24, 2026 9:14 AM\nSubject: Hi\n")
    assert (found.sender_name, found.sender_address, found.subject) == ("IT Desk", "", "Hi")
    assert found.searchable  # the subject and time are enough


def test_hostile_text_is_bounded():
    huge = ("From: a <a@evil.example>\n" + "Subject: " + "x" * 100_000 + "\n") * 50
    found = find_forwarded_original(huge)
    assert found is not None and len(found.subject) <= 998
    assert find_forwarded_original("\n" * 1_000_000 + FORMS["gmail-en"]) is None  # past the bound: not read


def test_search_window():
    naive = ForwardedOriginal(subject="s", sent_at=datetime(2026, 11, 24, 9, 14))
    start, end = naive.window()
    assert (start, end) == (
        datetime(2026, 11, 23, 9, 14, tzinfo=UTC),
        datetime(2026, 11, 25, 9, 14, tzinfo=UTC),
    )
    aware = ForwardedOriginal(subject="s", sent_at=datetime(2026, 11, 24, 9, 14, tzinfo=CET))
    start, end = aware.window()
    assert start == datetime(2026, 11, 24, 6, 14, tzinfo=UTC) and end == datetime(
        2026, 11, 24, 14, 14, tzinfo=UTC
    )
    assert ForwardedOriginal(subject="s").window() is None
