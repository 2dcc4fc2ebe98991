"""The settings `phishbot setup` prints are the ones that work: after `setup microsoft` and `setup slack` against
the emulators, and the install link opened, the real bot runs with the MS_* lines as printed (the certificate it
made, the client id it registered) and the Slack values copied from the app's pages — the Graph emulator checks
the bot's client assertion against the certificate that was uploaded — and a report reaches its verdict card."""

from __future__ import annotations

import io
import re
from pathlib import Path

import httpx
from conftest import ADMIN, ALICE, INTAKE, ISSUED_TOKENS, SOC, RunningBot, assert_no_secret, database_text

from bot.config import load_endpoints
from bot.domain import CaseStatus
from bot.runtime import setup_microsoft, setup_slack

ROOT = Path(__file__).resolve().parents[2]
EVENTS = "https://phishbot.example.com/slack/events"


def printed(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if re.match(r"^[A-Z_]+=[^…\s]+$", line))


def test_the_printed_settings_run_the_bot(slack, slack_apps, graph, entra, tls, database_url, tmp_path):
    endpoints = load_endpoints(
        SLACK_API_URL=slack.api_url,
        MS_AUTHORITY_HOST=graph.base_url,
        GRAPH_URL=graph.base_url,
        SSL_CERT_FILE=str(tls.ca_file),
    )
    entra.sign_in_next(ADMIN)
    out = io.StringIO()
    options = setup_microsoft.Options(certificate=tmp_path / "phishbot-microsoft.pem")
    assert setup_microsoft.run_setup_microsoft(options, endpoints, out=out, sleep=lambda _s: None) == 0
    microsoft = printed(out.getvalue())

    token, _ = slack_apps.issue_config_token()
    out = io.StringIO()
    slack_options = setup_slack.Options(manifest=ROOT / "manifest.yml", request_url=EVENTS)
    assert (
        setup_slack.run_setup_slack(slack_options, endpoints, out=out, environ={"SLACK_CONFIG_TOKEN": token})
        == 0
    )
    [install] = [word for word in out.getvalue().split() if "/oauth/v2/authorize?" in word]
    assert httpx.get(install).status_code == 200  # the person allows the app
    [app_id] = slack_apps.app_ids()
    pages = slack_apps.credentials(app_id)  # what the app's pages show, copied into .env
    ISSUED_TOKENS.update({pages["bot_token"], pages["signing_secret"], pages["client_secret"]})
    assert printed(out.getvalue())["PHISHBOT_MODE"] == "http"

    running = RunningBot(
        slack,
        graph,
        tls,
        database_url,
        SLACK_BOT_TOKEN=pages["bot_token"],
        SLACK_SIGNING_SECRET=pages["signing_secret"],
        MS_TENANT_ID=microsoft["MS_TENANT_ID"],
        MS_CLIENT_ID=microsoft["MS_CLIENT_ID"],
        MS_CLIENT_CERTIFICATE=microsoft["MS_CLIENT_CERTIFICATE"],
        MS_CLIENT_SECRET=None,
        MS_AUTHORITY_HOST=microsoft["MS_AUTHORITY_HOST"],
        GRAPH_URL=microsoft["GRAPH_URL"],
    )
    try:
        response = slack.slash_command(
            ALICE, "https://login-micros0ft-secure.example/owa/", channel_id=INTAKE
        )
        assert response.status_code == 200
        view = running.until(
            lambda: (v := running.store.cases.case_view(1)).status is CaseStatus.VERDICT and v
        )
        assert view.verdict is not None
        assert len(slack.messages(SOC)) == 1
        # The bot signed in as the registered app, with a client assertion the emulator checked against the
        # certificate `setup microsoft` uploaded (no secret exists for this app).
        sign_ins = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/token") and r.body]
        mine = [r for r in sign_ins if r.body.get("client_id") == microsoft["MS_CLIENT_ID"]]
        assert mine and all(r.body.get("client_assertion") == "***" and r.status == 200 for r in mine)
        assert not any("client_secret" in r.body for r in mine)
    finally:
        running.stop()
    assert_no_secret(database_text(database_url), "the database")
