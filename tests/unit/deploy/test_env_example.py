""".env.example, the README's configuration table and bot/config.py say the same: the same variables in the same
order, the defaults .env.example shows are the settings' defaults, the lines it leaves empty are the required ones,
and the variables compose.yaml reads are in it too."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
# Settings the tests and the demo shorten; bot/config.py says they are not part of the environment contract.
INTERNAL = {"PHISHBOT_SWEEP_SECONDS", "PHISHBOT_SAME_ITEM_GAP_SECONDS", "PHISHBOT_SOCKET_PING_SECONDS"}
# Read by compose.yaml, not by phishbot.
COMPOSE_ONLY = ["POSTGRES_PASSWORD", "PHISHBOT_IMAGE"]
SETTING = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
# Valid values for the required settings, to load the settings with all but one of them.
REQUIRED_VALUES = {
    "SLACK_BOT_TOKEN": "xoxb-env-example",
    "SLACK_APP_TOKEN": "xapp-env-example",
    "PHISHBOT_SOC_CHANNEL": "C0SOC0001",
    "MS_TENANT_ID": "tenant",
    "MS_CLIENT_ID": "client",
}
# And one of the two Microsoft credentials.
CREDENTIAL = {"MS_CLIENT_SECRET": "env-example-secret"}


def env_example() -> list[tuple[str, str, bool]]:
    """(name, value, commented) for each setting line of .env.example, in order."""
    lines = []
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = SETTING.match(line)
        if match:
            lines.append((match.group(2), match.group(3), match.group(1) is not None))
    return lines


def readme_variables() -> list[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("### Configuration", 1)[1].split("\n\n", 2)[1]
    names = []
    for row in table.splitlines()[2:]:
        first_cell = row.split("|")[1]
        names.extend(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def settings_variables() -> set[str]:
    return {info.alias for info in Settings.model_fields.values() if info.alias} - INTERNAL


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in settings_variables() | INTERNAL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env


def test_the_readme_table_lists_every_setting_once():
    names = readme_variables()
    assert len(names) == len(set(names))
    assert set(names) == settings_variables()


def test_env_example_lists_the_readme_table_in_its_order_then_what_compose_reads():
    names = [name for name, _, _ in env_example()]
    assert names == readme_variables() + COMPOSE_ONLY


def test_the_defaults_env_example_shows_are_the_settings_defaults(clean_environment):
    fields = {info.alias: name for name, info in Settings.model_fields.items()}
    shown = [(name, value) for name, value, commented in env_example() if commented and name in fields]
    assert shown
    for name, value in shown:
        default = Settings.model_fields[fields[name]].get_default(call_default_factory=True)
        if value == "":
            # An empty commented line: no default (off, nobody, or one of two alternatives).
            assert not default, f"{name} has the default {default!r}; .env.example shows none"
        else:
            shown_value = getattr(
                load_settings(**{**REQUIRED_VALUES, **CREDENTIAL, name: value}), fields[name]
            )
            assert shown_value == default, name


def test_the_lines_env_example_leaves_empty_are_the_required_settings(clean_environment):
    required = [
        name for name, value, commented in env_example() if not commented and name not in COMPOSE_ONLY
    ]
    assert required == list(REQUIRED_VALUES)
    assert all(value == "" for _, value, commented in env_example() if not commented)
    for name in required:
        others = {key: value for key, value in {**REQUIRED_VALUES, **CREDENTIAL}.items() if key != name}
        with pytest.raises(ConfigError, match=name):
            load_settings(**others)
    # One of MS_CLIENT_SECRET and MS_CLIENT_CERTIFICATE as well: both are commented, and the file says so.
    with pytest.raises(ConfigError, match="MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE"):
        load_settings(**REQUIRED_VALUES)
    assert "One of the two is required" in (ROOT / ".env.example").read_text()


def test_compose_reads_only_variables_env_example_has():
    compose = (ROOT / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose))
    assert interpolated == set(COMPOSE_ONLY)
    assert "env_file: .env" in compose
