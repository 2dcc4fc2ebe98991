"""Cards for the doors of issue 3: the report modal with the reporter's recent emails, acknowledgements and
outcomes in the reporter's language, how the case card shows where an email came from and whose
Authentication-Results it trusts."""

from __future__ import annotations

import dataclasses
import json
import warnings
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from test_cards import NOW, block, case, email_message, verdict

from bot.domain import AuthResult, CaseKind, CaseStatus
from bot.slack import cards


@dataclasses.dataclass(frozen=True)
class Recent:
    id: str
    subject: str
    sender_name: str
    sender_address: str
    received_at: datetime | None


def recent(count: int, id_length: int = 152) -> list[Recent]:
    return [
        Recent(
            id=f"{index:03d}" + "A" * (id_length - 3),
            subject=f"Subject {index} " + "<!channel> " * (index % 3) + "x" * (index * 10),
            sender_name=f"Sender {index}",
            sender_address=f"s{index}@evil.example",
            received_at=datetime(2026, 11, 24, 9, 14, tzinfo=UTC) - timedelta(hours=index),
        )
        for index in range(count)
    ]


def valid_view(view: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        View(**view).validate_json()
        for b in view["blocks"]:
            Block.parse(b).validate_json()


def test_the_modal_lists_recent_emails_in_the_reporters_time_and_keeps_ids_out_of_options():
    view = cards.report_modal(
        max_upload_mb=25, recent=recent(15), tz_offset=3600, metadata={"channel_id": "C0INTAKE01"}
    )
    valid_view(view)
    [picker] = [b for b in view["blocks"] if b.get("block_id") == "recent"]
    options = picker["element"]["options"]
    assert [o["value"] for o in options] == [str(i) for i in range(15)]
    assert options[0]["text"]["text"] == "Subject 0 — Sender 0 · 24 Nov 10:14"  # UTC+1
    assert all(len(o["text"]["text"]) <= 75 for o in options)
    assert all(o["text"]["type"] == "plain_text" for o in options)  # Slack reads no markup in plain_text
    metadata = json.loads(view["private_metadata"])
    assert metadata["channel_id"] == "C0INTAKE01" and len(metadata["recent"]) == 15
    assert len(view["private_metadata"]) <= 3000


def test_long_graph_ids_give_way_so_the_metadata_fits():
    view = cards.report_modal(
        max_upload_mb=25, recent=recent(15, id_length=400), metadata={"channel_id": "C1"}
    )
    valid_view(view)
    metadata = json.loads(view["private_metadata"])
    assert 0 < len(metadata["recent"]) < 15 and len(view["private_metadata"]) <= 3000
    [picker] = [b for b in view["blocks"] if b.get("block_id") == "recent"]
    assert len(picker["element"]["options"]) == len(metadata["recent"])


@pytest.mark.parametrize(
    ("choice", "expected"),
    [(cards.RECENT_LOADING, "Looking for your recent emails"), ([], "no recent emails")],
)
def test_loading_and_empty(choice, expected):
    view = cards.report_modal(max_upload_mb=25, recent=choice)
    valid_view(view)
    assert expected in block(view["blocks"], "recent")


def test_reading_the_chosen_recent_email():
    view = cards.report_modal(max_upload_mb=25, recent=recent(3), metadata={"channel_id": "C1"})
    state = {"values": {"recent": {"recent": {"type": "static_select", "selected_option": {"value": "2"}}}}}
    assert cards.read_report_modal(state, view["private_metadata"]).recent_id == recent(3)[2].id
    for junk in ("9", "-1", "x", None):
        bad = {"values": {"recent": {"recent": {"selected_option": {"value": junk}}}}}
        assert cards.read_report_modal(bad, view["private_metadata"]).recent_id == ""
    assert cards.read_report_modal(state, "not json").recent_id == ""
    assert cards.read_report_modal(state, json.dumps({"recent": [1, 2, 3]})).recent_id == ""


def test_acknowledgement_and_outcome_in_dutch():
    pending = case(status=CaseStatus.CHECKING, verdict=None)
    text, blocks = cards.reporter_ack(pending, joined=False, language="nl")
    assert text.startswith("Bedankt — Security heeft je melding van de e-mail “Your mailbox is full”")
    done = case(verdict=verdict())
    text, _ = cards.reporter_outcome(done, "nl")
    assert text.startswith("Over de e-mail “Your mailbox is full”: het was kwaadaardig.")
    text, _ = cards.reporter_outcome(case(CaseKind.URL, verdict=verdict()), "nl")
    assert "de link hxxps://evil[.]example/login" in text and "Open hem niet" in text


def test_a_joining_reporter_hears_where_the_case_stands():
    text, _ = cards.reporter_ack(case(status=CaseStatus.CHECKING, verdict=None), joined=True)
    assert text == (
        "Thanks — this message was already reported; your report was added to the case. "
        "Microsoft Defender is still analysing it; you'll hear the outcome here."
    )
    text, _ = cards.reporter_ack(case(verdict=verdict()), joined=True)
    assert text.startswith(
        "Thanks — this message was already reported; your report was added to the case. About"
    )
    assert "it was malicious" in text
    text, _ = cards.reporter_ack(case(status=CaseStatus.DISMISSED), joined=True, language="nl")
    assert "geen dreiging" in text


def test_notes_follow_the_acknowledgement():
    text, blocks = cards.reporter_ack(case(status=CaseStatus.CHECKING), joined=False, notes=("Second line.",))
    assert text.endswith("\nSecond line.") and "Second line." in block(blocks, "ack")


def test_the_card_says_where_the_email_came_from():
    message = dataclasses.replace(
        email_message(), provenance="Forwarded inline by alice@contoso.example; the original was not found."
    )
    _, blocks = cards.case_card(case(message=message), now=NOW)
    assert "Forwarded inline by alice@contoso[.]example; the original was not found." in block(
        blocks, "provenance"
    )


def test_untrusted_results_only_are_all_marked_as_possibly_forged():
    message = dataclasses.replace(
        email_message(), authentication=(AuthResult("dmarc", "pass", "", "relay.evil.example"),)
    )
    _, blocks = cards.case_card(case(message=message), now=NOW)
    auth = block(blocks, "authentication")
    assert "stamped" not in auth
    assert "could be forged" in auth and ":white_check_mark: DMARC pass" in auth
