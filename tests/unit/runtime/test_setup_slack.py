"""`phishbot setup slack` against the Slack emulator's App Manifest API: the app is created from manifest.yml
(Socket Mode, or HTTP mode with `--request-url`), validated by Slack against its schema, updated only when it
differs; an expired configuration token is renewed with its refresh token; the output names the install link and
the pages each value is copied from, and never a token or a credential."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import yaml
from conftest import setup_endpoints
from processes import run_main

from bot.config import load_endpoints
from bot.runtime.setup_slack import Options, run_setup_slack

ROOT = Path(__file__).resolve().parents[3]
EVENTS = "https://phishbot.example.com/slack/events"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_setup(slack, slack_apps, *, token=None, environ=None, stdin=None, ask_secret=None, **options):
    token = token if token is not None else slack_apps.issue_config_token()[0]
    out = io.StringIO()
    code = run_setup_slack(
        Options(manifest=options.pop("manifest", ROOT / "manifest.yml"), **options),
        load_endpoints(SLACK_API_URL=slack.api_url),
        out=out,
        stdin=stdin or io.StringIO(""),
        environ={"SLACK_CONFIG_TOKEN": token} if environ is None else environ,
        ask_secret=ask_secret
        or (lambda _prompt: (_ for _ in ()).throw(AssertionError("no prompt expected"))),
    )
    return code, out.getvalue()


def manifest_yml() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def assert_nothing_secret(output: str, slack_apps, *tokens: str) -> None:
    for app_id in slack_apps.app_ids():
        for name, value in slack_apps.credentials(app_id).items():
            if name != "client_id":  # public: it is in the install link
                assert value not in output, name
    for token in tokens:
        assert token not in output


def test_a_first_run_creates_the_app_and_says_where_each_value_is(slack, slack_apps):
    token, refresh = slack_apps.issue_config_token()
    code, output = run_setup(slack, slack_apps, token=token)
    assert code == 0, output
    [app_id] = slack_apps.app_ids()
    assert slack_apps.manifest(app_id) == {**manifest_yml()}  # Socket Mode: the file as it is
    assert f"created the app {app_id}" in output
    [install] = [word for word in output.split() if "/oauth/v2/authorize?" in word]
    assert install.startswith(slack.root_url)
    assert f"https://api.slack.com/apps/{app_id}/oauth → OAuth Tokens → Bot User OAuth Token" in output
    assert f"https://api.slack.com/apps/{app_id}/general → App-Level Tokens" in output
    assert "connections:write" in output and "PHISHBOT_MODE=socket" in output
    assert f"--app-id {app_id}" in output and "phishbot doctor" in output and "/invite @phishbot" in output
    assert_nothing_secret(output, slack_apps, token, refresh)

    # The person opens the link and allows: the workspace now runs this app, with the manifest's scopes.
    assert httpx.get(install).status_code == 200
    bot_token = slack_apps.credentials(app_id)["bot_token"]
    answer = httpx.post(slack.api_url + "auth.test", headers={"Authorization": f"Bearer {bot_token}"}).json()
    assert answer["ok"] and set(answer) >= {"user_id", "team_id"}
    assert sorted(slack.scopes) == sorted(manifest_yml()["oauth_config"]["scopes"]["bot"])


def test_a_run_with_the_app_id_changes_nothing_when_the_manifest_is_the_same(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    assert run_setup(slack, slack_apps, token=token)[0] == 0
    [app_id] = slack_apps.app_ids()
    code, output = run_setup(slack, slack_apps, token=token, app_id=app_id)
    assert code == 0, output
    assert "already has this manifest: nothing to change" in output
    assert [c.method for c in slack.calls if c.method.startswith("apps.manifest.")] == [
        "apps.manifest.validate",
        "apps.manifest.create",
        "apps.manifest.validate",
        "apps.manifest.export",
    ]
    assert slack_apps.app_ids() == [app_id]


def test_http_mode_sets_every_request_url_and_names_the_signing_secret(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    assert run_setup(slack, slack_apps, token=token)[0] == 0
    [app_id] = slack_apps.app_ids()
    code, output = run_setup(slack, slack_apps, token=token, app_id=app_id, request_url=EVENTS)
    assert code == 0, output
    assert f"updated the app {app_id}" in output
    manifest = slack_apps.manifest(app_id)
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["event_subscriptions"]["request_url"] == EVENTS
    assert manifest["settings"]["interactivity"]["request_url"] == EVENTS
    assert [c["url"] for c in manifest["features"]["slash_commands"]] == [EVENTS]
    assert "PHISHBOT_MODE=http" in output
    assert f"https://api.slack.com/apps/{app_id}/general → App Credentials → Signing Secret" in output
    assert "SLACK_APP_TOKEN" not in output
    assert "reinstall" not in output.lower()  # same scopes
    assert_nothing_secret(output, slack_apps, token)


def test_new_scopes_ask_for_a_reinstall(slack, slack_apps, tmp_path):
    token, _ = slack_apps.issue_config_token()
    assert run_setup(slack, slack_apps, token=token)[0] == 0
    [app_id] = slack_apps.app_ids()
    manifest = manifest_yml()
    manifest["oauth_config"]["scopes"]["bot"].append("reactions:read")
    changed = tmp_path / "manifest.yml"
    changed.write_text(yaml.safe_dump(manifest))
    code, output = run_setup(slack, slack_apps, token=token, app_id=app_id, manifest=changed)
    assert code == 0, output
    assert "Its scopes changed: reinstall it" in output
    assert f"https://api.slack.com/apps/{app_id}/install-on-team" in output


def test_a_manifest_slack_refuses_is_shown_with_slacks_pointers(slack, slack_apps, tmp_path):
    manifest = manifest_yml()
    manifest["features"]["shortcuts"][0]["name"] = "Report this message as phishing, please"  # over 24
    manifest["oauth_config"]["scopes"]["bot"].remove("channels:history")  # message.channels needs it
    broken = tmp_path / "manifest.yml"
    broken.write_text(yaml.safe_dump(manifest))
    code, output = run_setup(slack, slack_apps, manifest=broken)
    assert code == 1
    assert "Slack refused the manifest (apps.manifest.validate, invalid_manifest)" in output
    assert "/features/shortcuts/0/name: " in output and "is too long" in output
    assert slack_apps.app_ids() == []


def test_http_mode_needs_an_https_events_url(slack, slack_apps):
    code, output = run_setup(slack, slack_apps, request_url="http://phishbot.example.com/slack/events")
    assert code == 1 and "must be an https:// URL" in output
    assert slack.calls == []


def test_an_expired_configuration_token_is_renewed_with_its_refresh_token(slack, slack_apps):
    token, refresh = slack_apps.issue_config_token()
    slack_apps.expire_config_tokens()
    environ = {"SLACK_CONFIG_TOKEN": token, "SLACK_CONFIG_REFRESH_TOKEN": refresh}
    code, output = run_setup(slack, slack_apps, environ=environ)
    assert code == 0, output
    assert "renewed the expired configuration token" in output
    [rotate] = slack.calls_to("tooling.tokens.rotate")
    assert rotate.args == {"refresh_token": refresh}
    new_tokens = [c.token for c in slack.calls if c.method.startswith("apps.manifest.")]
    assert new_tokens[0] == token and all(t != token for t in new_tokens[1:])
    assert_nothing_secret(output, slack_apps, token, refresh, *new_tokens)

    # The refresh token is spent: a second renewal with it is refused, with what to do.
    slack_apps.expire_config_tokens()
    code, output = run_setup(slack, slack_apps, environ=environ)
    assert code == 1 and "Slack refused the refresh token (invalid_refresh_token)" in output


def test_an_expired_token_without_its_refresh_token_says_how_long_they_last(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    slack_apps.expire_config_tokens()
    code, output = run_setup(slack, slack_apps, token=token)
    assert code == 1
    assert "has expired (they last 12 hours)" in output and "SLACK_CONFIG_REFRESH_TOKEN" in output


def test_a_wrong_token_is_refused_and_a_bot_token_is_never_sent(slack, slack_apps):
    code, output = run_setup(slack, slack_apps, token="xoxe.xoxp-1-not-a-real-one")
    assert code == 1 and "invalid_auth" in output and "Generate Token" in output
    calls = len(slack.calls)
    code, output = run_setup(slack, slack_apps, token=slack.bot_token)
    assert code == 1 and "holds a bot token, not an app configuration token" in output
    assert len(slack.calls) == calls
    assert slack.bot_token not in output


def test_the_token_is_asked_for_without_echo_in_a_terminal(slack, slack_apps):
    token, _ = slack_apps.issue_config_token()
    prompts: list[str] = []

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return token

    code, output = run_setup(slack, slack_apps, environ={}, stdin=_Terminal(), ask_secret=ask)
    assert code == 0, output
    assert len(prompts) == 1 and "not shown" in prompts[0] and token not in output


def test_without_a_terminal_or_a_variable_it_says_where_a_token_comes_from(slack, slack_apps):
    code, output = run_setup(slack, slack_apps, environ={})
    assert code == 1
    assert "SLACK_CONFIG_TOKEN" in output and "--token-stdin" in output and "Generate Token" in output


def test_the_command_line_reads_the_token_from_stdin(slack, slack_apps, graph, tls, tmp_path):
    token, refresh = slack_apps.issue_config_token()
    (tmp_path / "manifest.yml").write_text((ROOT / "manifest.yml").read_text())
    result = run_main(
        ["setup", "slack", "--token-stdin", "--request-url", EVENTS],
        setup_endpoints(slack, graph, tls),
        tmp_path,
        input_text=token + "\n",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [app_id] = slack_apps.app_ids()
    assert slack_apps.manifest(app_id)["settings"]["socket_mode_enabled"] is False
    assert_nothing_secret(result.stdout + result.stderr, slack_apps, token, refresh)
    assert json.dumps(slack_apps.credentials(app_id)) not in result.stdout
