"""The Slack emulator's App Manifest API refuses what Slack refuses: tokens of the wrong kind or expired, apps that
are not there, manifests against Slack's published schema and Slack's own rules (a request URL or Socket Mode),
each refusal with Slack's error code and, for a manifest, `errors` of `{message, pointer}`."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]


def call(slack, method: str, token: str | None, **args) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(slack.api_url + method, data=args, headers=headers).json()


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_yml_is_valid_and_creates_an_app_with_credentials(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    assert call(slack, "apps.manifest.validate", token, manifest=json.dumps(manifest())) == {"ok": True}
    created = call(slack, "apps.manifest.create", token, manifest=json.dumps(manifest()))
    assert created["ok"] and created["app_id"].startswith("A")
    assert set(created["credentials"]) == {
        "client_id",
        "client_secret",
        "verification_token",
        "signing_secret",
    }
    assert created["oauth_authorize_url"].startswith(slack.root_url)
    exported = call(slack, "apps.manifest.export", token, app_id=created["app_id"])
    assert exported["manifest"] == {"_metadata": {"major_version": 1, "minor_version": 1}, **manifest()}


@pytest.mark.parametrize(
    ("change", "message", "pointer"),
    [
        (
            lambda m: m["features"]["shortcuts"][0].update(name="x" * 25),
            "is too long",
            "/features/shortcuts/0/name",
        ),
        (
            lambda m: m["display_information"].pop("name"),
            "'name' is a required property",
            "/display_information",
        ),
        (
            lambda m: m["settings"].update(socket_mode_enabled=False),
            "Event Subscription requires either Request URL or Socket Mode Enabled",
            "/settings/event_subscriptions",
        ),
        (
            lambda m: m["settings"].update(socket_mode_enabled=False),
            "Interactivity requires a Request URL",
            "/settings/interactivity",
        ),
        (
            lambda m: m["settings"].update(socket_mode_enabled=False),
            "Slash command requires a URL when Socket Mode is disabled",
            "/features/slash_commands/0",
        ),
        (
            lambda m: m["oauth_config"]["scopes"]["bot"].remove("groups:history"),
            "Event message.groups requires the groups:history bot scope",
            "/settings/event_subscriptions/bot_events/1",
        ),
        (
            lambda m: m["oauth_config"]["scopes"]["bot"].remove("commands"),
            "Slash commands and shortcuts require the commands bot scope",
            "/oauth_config/scopes/bot",
        ),
        (
            lambda m: (
                m["settings"].update(
                    socket_mode_enabled=False,
                    event_subscriptions={
                        **m["settings"]["event_subscriptions"],
                        "request_url": "http://x.example/e",
                    },
                    interactivity={"is_enabled": True, "request_url": "https://x.example/e"},
                )
                or m["features"]["slash_commands"][0].update(url="https://x.example/e")
            ),
            "Request URL must use https",
            "/settings/event_subscriptions/request_url",
        ),
    ],
)
def test_a_manifest_slack_would_refuse_is_refused_with_a_pointer(slack, slack_apps, change, message, pointer):
    token, _ = slack_apps.issue_config_token()
    broken = manifest()
    change(broken)
    answer = call(slack, "apps.manifest.validate", token, manifest=json.dumps(broken))
    assert answer["ok"] is False and answer["error"] == "invalid_manifest"
    assert any(message in e["message"] and e["pointer"] == pointer for e in answer["errors"]), answer[
        "errors"
    ]
    assert (
        call(slack, "apps.manifest.create", token, manifest=json.dumps(broken))["error"] == "invalid_manifest"
    )
    assert slack_apps.app_ids() == []


def test_tokens_are_checked_like_slack(slack, slack_apps):
    text = json.dumps(manifest())
    assert call(slack, "apps.manifest.validate", None, manifest=text)["error"] == "not_authed"
    assert (
        call(slack, "apps.manifest.validate", "xoxe.xoxp-1-unknown", manifest=text)["error"] == "invalid_auth"
    )
    assert (
        call(slack, "apps.manifest.validate", slack.bot_token, manifest=text)["error"]
        == "not_allowed_token_type"
    )
    token, refresh = slack_apps.issue_config_token()
    slack_apps.expire_config_tokens()
    assert call(slack, "apps.manifest.validate", token, manifest=text)["error"] == "token_expired"

    rotated = call(slack, "tooling.tokens.rotate", None, refresh_token=refresh)
    assert (
        rotated["ok"]
        and rotated["token"].startswith("xoxe.xoxp-")
        and rotated["refresh_token"].startswith("xoxe-")
    )
    assert rotated["exp"] - rotated["iat"] == 12 * 3600
    assert call(slack, "apps.manifest.validate", rotated["token"], manifest=text) == {"ok": True}
    assert (
        call(slack, "tooling.tokens.rotate", None, refresh_token=refresh)["error"] == "invalid_refresh_token"
    )


def test_apps_are_found_by_a_well_formed_id(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    text = json.dumps(manifest())
    assert (
        call(slack, "apps.manifest.update", token, app_id="A0NOSUCHAPP", manifest=text)["error"]
        == "app_not_found"
    )
    assert call(slack, "apps.manifest.export", token, app_id="not an id")["error"] == "invalid_app_id"
    assert call(slack, "apps.manifest.create", token)["error"] == "invalid_arguments"
    assert call(slack, "apps.manifest.create", token, manifest="{not json")["errors"][0]["pointer"] == "/"


def test_an_update_says_whether_the_scopes_changed(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    app_id = call(slack, "apps.manifest.create", token, manifest=json.dumps(manifest()))["app_id"]
    same = call(slack, "apps.manifest.update", token, app_id=app_id, manifest=json.dumps(manifest()))
    assert same == {"ok": True, "app_id": app_id, "permissions_updated": False}
    more = manifest()
    more["oauth_config"]["scopes"]["bot"].append("reactions:read")
    changed = call(slack, "apps.manifest.update", token, app_id=app_id, manifest=json.dumps(more))
    assert changed["permissions_updated"] is True
    assert call(slack, "apps.manifest.delete", token, app_id=app_id) == {"ok": True}
    assert slack_apps.app_ids() == []


def test_the_install_link_installs_the_app_in_the_workspace(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    created = call(slack, "apps.manifest.create", token, manifest=json.dumps(manifest()))
    old_token = slack.bot_token
    page = httpx.get(created["oauth_authorize_url"])
    assert page.status_code == 200 and "installed" in page.text
    bot_token = slack_apps.credentials(created["app_id"])["bot_token"]
    assert bot_token.startswith("xoxb-") and bot_token != old_token
    assert call(slack, "auth.test", old_token)["error"] == "invalid_auth"
    assert call(slack, "auth.test", bot_token)["ok"] is True
    assert slack.signing_secret == created["credentials"]["signing_secret"]
    assert httpx.get(slack.root_url + "oauth/v2/authorize?client_id=nobody").status_code == 404
