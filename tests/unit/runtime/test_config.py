"""The configuration contract (design §3): one clear line naming the variable, never a secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bot.config import ConfigError, Settings, load_settings

SECRET = "Sup3rS3cretValue-do-not-print"

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_APP_TOKEN": "xapp-test-token",
    "PHISHBOT_SOC_CHANNEL": "C0SOC0001",
    "MS_TENANT_ID": "tenant",
    "MS_CLIENT_ID": "client",
    "MS_CLIENT_SECRET": SECRET,
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith(("SLACK_", "PHISHBOT_", "MS_")) or name in {"PORT", "DATABASE_URL", "GRAPH_URL"}:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env

    def apply(**values):
        for name, value in {**BASE, **values}.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))

    return apply


def test_defaults_follow_the_contract(env):
    env()
    settings = load_settings()
    assert settings.mode == "socket"
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.database_url == "sqlite:///phishbot.db"
    assert settings.poll_schedule == (60, 120, 300, 600, 900, 1800, 3600)
    assert settings.poll_give_up == 172800
    assert settings.max_upload_mb == 25
    assert settings.purge_method == "auto"
    assert settings.socket_connections == 2
    assert settings.responders == [] and settings.intake_channels == [] and settings.auto_block == []
    assert settings.user_reports == "on" and settings.user_reports_poll == 60
    assert SECRET not in repr(settings)


def test_user_reports_are_switched_by_word(env):
    env(PHISHBOT_USER_REPORTS=" OFF ", PHISHBOT_USER_REPORTS_POLL="300")
    settings = load_settings()
    assert settings.user_reports == "off" and settings.user_reports_poll == 300


def test_comma_lists_are_parsed(env):
    env(
        PHISHBOT_INTAKE_CHANNELS="C0AAA1, G0BBB2",
        PHISHBOT_RESPONDERS="U0AAA1,W0BBB2,S0CCC3",
        PHISHBOT_POLL_SCHEDULE="5, 10,30",
        PHISHBOT_AUTO_BLOCK="phishing,malware",
    )
    settings = load_settings()
    assert settings.intake_channels == ["C0AAA1", "G0BBB2"]
    assert settings.responders == ["U0AAA1", "W0BBB2", "S0CCC3"]
    assert settings.poll_schedule == (5, 10, 30)
    assert settings.auto_block == ["phishing", "malware"]


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN"),
        ({"PHISHBOT_SOC_CHANNEL": None}, "PHISHBOT_SOC_CHANNEL"),
        ({"SLACK_APP_TOKEN": None}, "SLACK_APP_TOKEN"),
        ({"PHISHBOT_MODE": "http"}, "SLACK_SIGNING_SECRET"),
        ({"PHISHBOT_MODE": "websocket"}, "PHISHBOT_MODE"),
        ({"MS_TENANT_ID": None}, "MS_TENANT_ID"),
        ({"MS_CLIENT_SECRET": None}, "MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE"),
        ({"MS_CLIENT_CERTIFICATE": "/nonexistent/cert.pem"}, "MS_CLIENT_CERTIFICATE"),
        ({"PORT": "eighty"}, "PORT"),
        ({"PHISHBOT_POLL_SCHEDULE": "60,soon"}, "PHISHBOT_POLL_SCHEDULE"),
        ({"PHISHBOT_POLL_SCHEDULE": "60,0"}, "PHISHBOT_POLL_SCHEDULE"),
        ({"PHISHBOT_POLL_GIVE_UP": "-1"}, "PHISHBOT_POLL_GIVE_UP"),
        ({"PHISHBOT_RESPONDERS": "alice"}, "PHISHBOT_RESPONDERS"),
        ({"PHISHBOT_INTAKE_CHANNELS": "#phish"}, "PHISHBOT_INTAKE_CHANNELS"),
        ({"PHISHBOT_SOC_CHANNEL": "security"}, "PHISHBOT_SOC_CHANNEL"),
        ({"PHISHBOT_PURGE_METHOD": "nuke"}, "PHISHBOT_PURGE_METHOD"),
        ({"PHISHBOT_AUTO_BLOCK": "everything"}, "PHISHBOT_AUTO_BLOCK"),
        ({"PHISHBOT_USER_REPORTS": "yes"}, "PHISHBOT_USER_REPORTS"),
        ({"PHISHBOT_USER_REPORTS_POLL": "0"}, "PHISHBOT_USER_REPORTS_POLL"),
        ({"PHISHBOT_SOCKET_CONNECTIONS": "0"}, "PHISHBOT_SOCKET_CONNECTIONS"),
        ({"PHISHBOT_SOCKET_CONNECTIONS": "11"}, "PHISHBOT_SOCKET_CONNECTIONS"),  # Slack allows 10 per app
        ({"SLACK_APP_TOKEN": "xoxb-" + SECRET}, "SLACK_APP_TOKEN"),
        ({"GRAPH_URL": "http://graph.example"}, "GRAPH_URL"),
        ({"MS_AUTHORITY_HOST": "http://login.example"}, "MS_AUTHORITY_HOST"),
        ({"SLACK_BOT_TOKEN": "xoxp-" + SECRET}, "SLACK_BOT_TOKEN"),
    ],
)
def test_bad_configuration_names_the_variable(env, values, variable):
    env(**values)
    with pytest.raises(ConfigError) as raised:
        load_settings()
    message = str(raised.value)
    assert message.startswith(variable), message
    assert "\n" not in message
    assert SECRET not in message


def test_dotenv_file_is_read(env, tmp_path):
    env(PHISHBOT_SOC_CHANNEL=None)
    (tmp_path / ".env").write_text("PHISHBOT_SOC_CHANNEL=C0FROMDOTENV\n")
    assert load_settings().soc_channel == "C0FROMDOTENV"


def test_cli_stops_with_one_line_and_no_secret(env, tmp_path):
    env(MS_TENANT_ID=None)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["phishbot: configuration error: MS_TENANT_ID is required"]
    assert SECRET not in result.stdout + result.stderr


def test_settings_construct_directly_for_the_sandbox():
    settings = Settings(
        SLACK_BOT_TOKEN="xoxb-x",
        SLACK_SIGNING_SECRET="s",
        PHISHBOT_MODE="http",
        PHISHBOT_SOC_CHANNEL="C0SOC0001",
        MS_TENANT_ID="t",
        MS_CLIENT_ID="c",
        MS_CLIENT_SECRET="x",
        PHISHBOT_SWEEP_SECONDS=0.5,
    )
    assert settings.sweep_seconds == 0.5
