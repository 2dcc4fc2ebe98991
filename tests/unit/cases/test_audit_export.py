"""`phishbot audit [--since DATE] [--format csv|json]`: the audit log for a person or a SIEM."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import migrate_first

from bot.cli import main
from bot.store import open_store
from bot.store.models import AuditRow


@pytest.fixture
def audited(database_url, monkeypatch, tmp_path):
    migrate_first(database_url)
    store = open_store(database_url)
    store.audit.record(
        "U0SAMSOC1",
        "report.purge",
        "allowed",
        case_id=1,
        details={"reason": "Member of responder group S0SECOPS01."},
    )
    store.audit.record(
        "U0EVE0001",
        "report.purge",
        "refused",
        case_id=1,
        details={"reason": '=HYPERLINK("https://evil.example")'},
    )
    store.audit.record(
        "U0SAMSOC1",
        "report.purge",
        "done",
        case_id=1,
        details={"scope": "message", "action": "softDelete", "count": 30},
    )
    with store.database.session() as session:  # one entry from last month, to be left out by --since
        session.add(
            AuditRow(
                at=datetime.now(UTC) - timedelta(days=40),
                actor="U0OLD0001",
                action="report.dismiss",
                case_id=9,
                outcome="allowed",
                detail="",
            )
        )
    store.database.close()
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-audit",
        "SLACK_APP_TOKEN": "xapp-audit",
        "PHISHBOT_SOC_CHANNEL": "C0SOC0001",
        "MS_TENANT_ID": "t",
        "MS_CLIENT_ID": "c",
        "MS_CLIENT_SECRET": "s",
        "DATABASE_URL": database_url,
    }.items():
        monkeypatch.setenv(name, value)
    return database_url


def test_csv_lists_every_attempt_in_order_and_defuses_formulas(audited, capsys):
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert main(["audit", "--since", since]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [
        ("U0SAMSOC1", "report.purge", "allowed"),
        ("U0EVE0001", "report.purge", "refused"),
        ("U0SAMSOC1", "report.purge", "done"),
    ]
    assert rows[1]["detail"].startswith("'=HYPERLINK")  # a spreadsheet shows it, does not run it
    assert rows[2]["case_id"] == "1" and "count=30" in rows[2]["detail"]
    assert datetime.fromisoformat(rows[0]["at"]).tzinfo is not None


def test_json_without_since_has_everything(audited, capsys):
    assert main(["audit", "--format", "json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 4 and entries[-1]["actor"] == "U0OLD0001"  # in the order they were written
    assert set(entries[0]) == {"at", "actor", "action", "case_id", "outcome", "detail"}
    assert entries[1]["detail"] == '=HYPERLINK("https://evil.example")'  # JSON needs no defusing


def test_a_bad_date_is_one_clear_line(audited, capsys):
    assert main(["audit", "--since", "last tuesday"]) == 2
    assert "is not a date" in capsys.readouterr().err
