"""A first deployment, as a person does it, against the emulators: every step is the `phishbot` command in its own
process, configured by the .env the person writes from what the setup commands printed. The steps and how long
each took are printed at the end (`pytest -s`), for the closing note of a release; nothing here asserts a time.

1. `phishbot setup slack --token-stdin --request-url …` (the configuration token pasted), then the install link;
2. `phishbot setup microsoft` (an administrator signs in with the code it shows);
3. .env from the printed lines and the values on the Slack app's pages;
4. `phishbot migrate`, `phishbot doctor` (exit 0), `phishbot run`, and a first report to its verdict card.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from conftest import (
    ADMIN,
    ALICE,
    INTAKE,
    ISSUED_TOKENS,
    RESPONDER_GROUP,
    SOC,
    assert_no_secret,
    setup_endpoints,
)
from processes import BotProcess, run_cli

ROOT = Path(__file__).resolve().parents[2]
EVENTS = "https://phishbot.example.com/slack/events"


class Steps:
    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    def run(self, name: str, step):
        started = time.monotonic()
        result = step()
        self.times.append((name, time.monotonic() - started))
        return result

    def table(self) -> str:
        width = max(len(name) for name, _ in self.times)
        lines = [f"  {name.ljust(width)}  {seconds:6.1f} s" for name, seconds in self.times]
        total = sum(seconds for _, seconds in self.times)
        return "\n".join(
            ["first deployment against the emulators:", *lines, f"  {'total'.ljust(width)}  {total:6.1f} s"]
        )


def settings_in(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if re.match(r"^[A-Z_]+=[^…\s]+$", line))


@pytest.mark.slow
def test_a_first_deployment_from_the_setup_commands_to_the_first_verdict_card(
    slack, slack_apps, graph, entra, tls, tmp_path
):
    steps = Steps()
    (tmp_path / "manifest.yml").write_text((ROOT / "manifest.yml").read_text())
    where = setup_endpoints(slack, graph, tls)
    token, refresh = slack_apps.issue_config_token()

    slack_setup = steps.run(
        "phishbot setup slack",
        lambda: run_cli(
            ["setup", "slack", "--token-stdin", "--request-url", EVENTS],
            where,
            tmp_path,
            input_text=token + "\n",
        ),
    )
    assert slack_setup.returncode == 0, slack_setup.stdout + slack_setup.stderr
    [install] = [word for word in slack_setup.stdout.split() if "/oauth/v2/authorize?" in word]
    steps.run("open the install link, allow", lambda: httpx.get(install).raise_for_status())
    [app_id] = slack_apps.app_ids()
    pages = slack_apps.credentials(app_id)
    ISSUED_TOKENS.update({pages["bot_token"], pages["signing_secret"], pages["client_secret"]})

    entra.sign_in_next(ADMIN, after_polls=1)  # the administrator signs in while the command polls
    microsoft_setup = steps.run(
        "phishbot setup microsoft", lambda: run_cli(["setup", "microsoft"], where, tmp_path)
    )
    assert microsoft_setup.returncode == 0, microsoft_setup.stdout + microsoft_setup.stderr
    printed = settings_in(slack_setup.stdout) | settings_in(microsoft_setup.stdout)

    env_file = {
        **where,
        **printed,
        "SLACK_BOT_TOKEN": pages["bot_token"],
        "SLACK_SIGNING_SECRET": pages["signing_secret"],
        "PHISHBOT_SOC_CHANNEL": SOC,
        "PHISHBOT_INTAKE_CHANNELS": INTAKE,
        "PHISHBOT_RESPONDERS": RESPONDER_GROUP,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'phishbot.db'}",
        "PHISHBOT_POLL_SCHEDULE": "1",
        "PHISHBOT_SWEEP_SECONDS": "0.2",
    }
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in env_file.items()))

    # The rest comes from .env; where the emulators are goes in the environment too, because this machine's
    # environment names its own SSL_CERT_FILE, and a variable of the environment wins over .env.
    migrate = steps.run("phishbot migrate", lambda: run_cli(["migrate"], where, tmp_path))
    assert migrate.returncode == 0, migrate.stderr
    doctor = steps.run("phishbot doctor", lambda: run_cli(["doctor"], where, tmp_path))
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "✓ Microsoft token" in doctor.stdout and "ThreatSubmission.ReadWrite.All" in doctor.stdout

    bot = steps.run(
        "phishbot run (until ready)", lambda: BotProcess(where, tmp_path / "bot.log").wait_ready()
    )
    try:
        slack.app_url = bot.events_url

        def first_card():
            assert slack.slash_command(ALICE, "https://phish-login.example/owa/", channel_id=INTAKE)
            # The reporter hears the outcome once the card shows Microsoft's verdict.
            slack.wait_for(lambda: slack.dms(ALICE), timeout=60)
            return slack.wait_for(lambda: [m for m in slack.messages(SOC) if "Phishing" in m.text])

        steps.run("first report to its verdict card", first_card)
    finally:
        bot.terminate()
    everything = slack_setup.stdout + microsoft_setup.stdout + doctor.stdout + bot.log_tail(10**6)
    assert_no_secret(everything, "the output of the deployment")
    for secret in (token, refresh, pages["client_secret"], pages["verification_token"]):
        assert secret not in everything
    print("\n" + steps.table())
