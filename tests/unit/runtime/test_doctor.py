"""`phishbot doctor` against the emulators: with everything right it says so and exits 0; a missing scope, a
missing Graph permission, a channel the bot is not in and an unmigrated database each get a ✗ line with the fix,
and the exit code is 1. Nothing it prints is a secret."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import INTAKE, SOC, bot_environment, migrate_first
from processes import run_main

from bot.runtime.doctor import SCOPES
from bot.sandbox.graph_emulator import ALL_ROLES

ROOT = Path(__file__).resolve().parents[3]


def lines_of(output: str, start: str) -> str:
    """The check line starting with `start` and its fix line, if any."""
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(start):
            following = lines[index + 1] if index + 1 < len(lines) else ""
            return line + ("\n" + following if following.strip().startswith("fix:") else "")
    raise AssertionError(f"no line starting {start!r} in:\n{output}")


def secrets_of(slack, graph) -> list[str]:
    return [slack.bot_token, slack.signing_secret, graph.client_secret, *graph.issued_tokens]


def migrated(database_url: str) -> str:
    migrate_first(database_url)
    return database_url


def test_the_doctor_knows_every_scope_the_manifest_asks_for():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == set(SCOPES)


def test_with_everything_right_the_doctor_exits_0(slack, graph, tls, database_url, tmp_path):
    environment = bot_environment(slack, graph, tls, migrated(database_url))
    result = run_main(["doctor"], environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    checks = [line for line in result.stdout.splitlines() if line[:1] in ("✓", "✗", "!")]
    assert checks and all(line.startswith("✓") for line in checks), result.stdout
    for name in (
        "✓ Configuration",
        "✓ Slack token",
        "✓ Slack scopes",
        f"✓ SOC channel {SOC}",
        f"✓ Intake channel {INTAKE}",
        "✓ Responders S0SECOPS01",
        "✓ Microsoft token",
        "✓ Graph permissions",
        "✓ Feature: hunting",
        "✓ Graph ",
        "✓ Feature: user reports",
        "✓ User-reported settings",
        "✓ Database",
    ):
        lines_of(result.stdout, name)
    assert "Everything phishbot needs is in place." in result.stdout
    assert not any(secret and secret in result.stdout + result.stderr for secret in secrets_of(slack, graph))


def test_each_problem_gets_a_cross_and_its_fix_and_the_exit_code_is_1(
    slack, graph, tls, database_url, tmp_path
):
    slack.scopes = [scope for scope in slack.scopes if scope != "files:write"]
    graph.granted_roles = tuple(
        role for role in ALL_ROLES if role not in ("ThreatSubmission.ReadWrite.All", "ThreatHunting.Read.All")
    )
    slack.add_channel("C0NOBOT001", "phish-forwards", bot_member=False)
    environment = bot_environment(
        slack, graph, tls, database_url, PHISHBOT_INTAKE_CHANNELS=f"{INTAKE},C0NOBOT001"
    )
    result = run_main(["doctor"], environment, tmp_path)
    output = result.stdout
    assert result.returncode == 1, output + result.stderr

    scopes = lines_of(output, "✗ Slack scopes")
    assert "missing files:write (the weekly digest's chart)" in scopes
    assert "fix: add files:write under OAuth & Permissions" in scopes and "reinstall" in scopes

    permissions = lines_of(output, "✗ Graph permissions")
    assert "missing ThreatSubmission.ReadWrite.All" in permissions
    assert "fix: " in permissions and "ThreatSubmission.ReadWrite.All" in permissions.split("fix:")[1]
    assert "Grant admin consent" in permissions
    # An optional feature is named as off, without failing on its own.
    hunting = lines_of(output, "! Feature: hunting")
    assert "off: who clicked" in hunting and "ThreatHunting.Read.All" in hunting

    channel = lines_of(output, "✗ Intake channel C0NOBOT001")
    assert "#phish-forwards exists but the bot is not a member" in channel
    assert "fix: /invite @phishbot in #phish-forwards" in channel
    lines_of(output, f"✓ Intake channel {INTAKE}")

    database = lines_of(output, "✗ Database")
    assert "no phishbot schema yet" in database and "fix: phishbot migrate" in database

    assert "problem(s) to fix" in output
    assert not any(secret and secret in output + result.stderr for secret in secrets_of(slack, graph))


def test_a_wrong_slack_token_and_a_wrong_microsoft_secret_are_named(
    slack, graph, tls, database_url, tmp_path
):
    environment = bot_environment(
        slack,
        graph,
        tls,
        migrated(database_url),
        SLACK_BOT_TOKEN="xoxb-not-the-right-one",
        MS_CLIENT_SECRET="not-the-right-secret",
    )
    result = run_main(["doctor"], environment, tmp_path)
    assert result.returncode == 1
    token = lines_of(result.stdout, "✗ Slack token")
    assert "invalid_auth" in token and "SLACK_BOT_TOKEN" in token
    microsoft = lines_of(result.stdout, "✗ Microsoft token")
    assert "MS_CLIENT_SECRET" in microsoft
    assert "xoxb-not-the-right-one" not in result.stdout + result.stderr
    assert "not-the-right-secret" not in result.stdout + result.stderr


def test_the_doctor_says_whether_report_button_reports_can_be_followed_and_go_to_microsoft(
    slack, graph, report_button, tls, database_url, tmp_path
):
    report_button.to_microsoft = False
    environment = bot_environment(slack, graph, tls, migrated(database_url))
    result = run_main(["doctor"], environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # off features do not fail the doctor
    assert "listed every 60 s" in lines_of(result.stdout, "✓ Feature: user reports")
    settings = lines_of(result.stdout, "! User-reported settings")
    assert "reports do not go to Microsoft" in settings and "User reported settings" in settings

    # Without a ThreatSubmission permission, Microsoft refuses the listing (403): said, with the fix.
    graph.granted_roles = tuple(r for r in ALL_ROLES if not r.startswith("ThreatSubmission"))
    refused = run_main(["doctor"], environment, tmp_path)
    line = lines_of(refused.stdout, "! Feature: user reports")
    assert "refused the list of user-reported submissions" in line and "ThreatSubmission.Read.All" in line

    off = run_main(["doctor"], {**environment, "PHISHBOT_USER_REPORTS": "off"}, tmp_path)
    assert "PHISHBOT_USER_REPORTS=off" in lines_of(off.stdout, "! Feature: user reports")
