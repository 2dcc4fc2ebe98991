"""manifest.yml is a valid Slack manifest, and everything it declares — and every button a card can show —
reaches a listener of the real app (Bolt answers 404 to a request no listener takes)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import jsonschema
import pytest
import yaml
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.config import Settings
from bot.runtime.slack_app import create_app
from bot.services import build_services
from bot.slack.contract import ModalCallback

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SHARED_SCHEMA = ROOT.parent / "shared" / "slack" / "manifest.schema.json"
SECRET = "manifest-test-signing-secret"


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_validates_against_slacks_schema():
    schema = json.loads((FIXTURES / "slack" / "manifest.schema.json").read_text())
    errors = sorted(e.message for e in jsonschema.Draft7Validator(schema).iter_errors(manifest()))
    assert errors == []


def test_vendored_schema_is_the_shared_one():
    if not SHARED_SCHEMA.exists():
        pytest.skip("../shared is not next to this checkout")
    assert SHARED_SCHEMA.read_bytes() == (FIXTURES / "slack" / "manifest.schema.json").read_bytes()


def test_manifest_asks_for_the_scopes_of_design_section_4():
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    assert {
        "commands",
        "chat:write",
        "files:read",
        "channels:history",
        "groups:history",
        "users:read",
        "users:read.email",
        "usergroups:read",
        "im:write",
    } <= scopes


@pytest.fixture
def app(tmp_path):
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-manifest-test",
        SLACK_SIGNING_SECRET=SECRET,
        PHISHBOT_MODE="http",
        SLACK_API_URL="http://127.0.0.1:9/api/",
        PHISHBOT_SOC_CHANNEL="C0SOC0001",
        MS_TENANT_ID="t",
        MS_CLIENT_ID="c",
        MS_CLIENT_SECRET="s",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    services = build_services(settings)
    app = create_app(services)
    yield app
    services.close()


def has_listener(app, body: str, content_type: str) -> bool:
    """True when some listener's matchers accept the request (without running it)."""
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    request = BoltRequest(
        body=body,
        headers={
            "content-type": [content_type],
            "x-slack-signature": [signature],
            "x-slack-request-timestamp": [timestamp],
        },
    )
    from slack_bolt.response import BoltResponse

    response = BoltResponse(status=200)
    return any(listener.matches(req=request, resp=response) for listener in app._listeners)


def test_every_command_in_the_manifest_has_a_listener(app):
    commands = [c["command"] for c in manifest()["features"]["slash_commands"]]
    assert commands == ["/report-phish"]
    for command in commands:
        body = urlencode(
            {
                "command": command,
                "text": "help",
                "user_id": "U0ALICE01",
                "channel_id": "C0INTAKE01",
                "trigger_id": "1.2.3",
                "team_id": "T0SANDBOX",
                "response_url": "http://127.0.0.1:9/r",
            }
        )
        assert has_listener(app, body, "application/x-www-form-urlencoded"), command


def test_every_shortcut_in_the_manifest_has_a_listener(app):
    for shortcut in manifest()["features"].get("shortcuts", []):
        payload = {
            "type": "message_action" if shortcut["type"] == "message" else "shortcut",
            "callback_id": shortcut["callback_id"],
            "user": {"id": "U0ALICE01"},
            "team": {"id": "T0SANDBOX"},
        }
        assert has_listener(app, "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")


def test_every_button_a_card_can_show_has_a_listener(app):
    from test_cards import every_rendered_state  # the card tests enumerate every state of a case

    action_ids = set()
    for blocks in every_rendered_state():
        for block in blocks:
            for element in block.get("elements", []) or []:
                if isinstance(element, dict) and element.get("type") == "button" and element.get("action_id"):
                    action_ids.add(element["action_id"])
    assert action_ids, "the card shows no buttons at all"
    for action_id in sorted(action_ids):
        payload = {
            "type": "block_actions",
            "user": {"id": "U0SAMSOC1"},
            "team": {"id": "T0SANDBOX"},
            "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "value": "1"}],
        }
        assert has_listener(
            app, "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded"
        ), action_id


def test_the_report_modal_has_a_listener(app):

    payload = {
        "type": "view_submission",
        "user": {"id": "U0ALICE01"},
        "team": {"id": "T0SANDBOX"},
        "view": {"type": "modal", "callback_id": ModalCallback.REPORT, "state": {"values": {}}},
    }
    assert has_listener(app, "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")


@pytest.mark.parametrize("callback_id", ["purge.submit", "block.submit"])
def test_the_purge_and_block_modals_have_listeners(app, callback_id):

    assert callback_id in (ModalCallback.PURGE, ModalCallback.BLOCK)
    payload = {
        "type": "view_submission",
        "user": {"id": "U0SAMSOC1"},
        "team": {"id": "T0SANDBOX"},
        "view": {"type": "modal", "callback_id": callback_id, "state": {"values": {}}},
    }
    assert has_listener(app, "payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")


def test_the_home_tab_is_on_and_every_event_the_manifest_subscribes_to_has_a_listener(app):
    features = manifest()["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    events = manifest()["settings"]["event_subscriptions"]["bot_events"]
    assert "app_home_opened" in events
    for name in events:
        event_type = name.split(".")[0]  # message.channels and message.groups arrive as `message`
        body = {
            "type": "event_callback",
            "team_id": "T0SANDBOX",
            "api_app_id": "A0PHISHBOT",
            "event_id": "Ev0MANIFEST",
            "event": {"type": event_type, "user": "U0ALICE01", "channel": "D0ALICE01", "tab": "home"},
        }
        assert has_listener(app, json.dumps(body), "application/json"), name


def test_the_home_tabs_button_and_the_mark_as_modal_have_listeners(app):
    from bot.slack import cards
    from bot.slack.contract import ActionId

    [home_button] = [
        e["action_id"] for b in cards.app_home([])["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert home_button == ActionId.HOME_REPORT
    click = {
        "type": "block_actions",
        "user": {"id": "U0ALICE01"},
        "team": {"id": "T0SANDBOX"},
        "container": {"type": "view", "view_id": "V0HOME"},
        "actions": [
            {"action_id": home_button, "block_id": "home_actions", "type": "button", "value": "report"}
        ],
    }
    assert has_listener(app, "payload=" + quote(json.dumps(click)), "application/x-www-form-urlencoded")
    submission = {
        "type": "view_submission",
        "user": {"id": "U0SAMSOC1"},
        "team": {"id": "T0SANDBOX"},
        "view": {"type": "modal", "callback_id": ModalCallback.REVIEW, "state": {"values": {}}},
    }
    assert has_listener(app, "payload=" + quote(json.dumps(submission)), "application/x-www-form-urlencoded")
