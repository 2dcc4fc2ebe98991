"""Signing in to Microsoft with a certificate instead of a secret, and no secret in any log line."""

from __future__ import annotations

import logging
from importlib import resources

from conftest import ALICE, INTAKE, RunningBot
from graph_schema import validate_graph_request

from bot.domain import CaseStatus
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.tls import make_client_certificate

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()


def test_a_certificate_credential_signs_in_and_the_report_completes(slack, tls, tmp_path, database_url):
    certificate = make_client_certificate()
    pem_path = tmp_path / "phishbot.pem"
    pem_path.write_bytes(certificate.pem)
    graph = GraphEmulator(
        tls,
        client_secret=None,
        client_certificate=certificate,
        verdict_after=0.3,
        request_validator=validate_graph_request,
    ).start()
    bot = RunningBot(
        slack, graph, tls, database_url, MS_CLIENT_SECRET=None, MS_CLIENT_CERTIFICATE=str(pem_path)
    )
    try:
        slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
        slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=15)
        token_posts = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/token")]
        assert token_posts and all("client_assertion" in r.body for r in token_posts)
        assert all("client_secret" not in r.body for r in token_posts)
    finally:
        bot.stop()
        graph.stop()
    assert graph.validation_errors == []


def test_no_secret_reaches_a_log_line(slack, graph, tls, database_url, clock, caplog):
    caplog.set_level(logging.DEBUG)
    bot = RunningBot(slack, graph, tls, database_url, clock=clock)
    try:
        graph.fail_next("POST /beta/security/threatSubmission/emailThreats", status=503)
        slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
        slack.wait_for(
            lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT and slack.dms(ALICE), timeout=15
        )
        slack.slash_command(ALICE, "https://evil.example/login", channel_id=INTAKE)
        slack.wait_for(lambda: bot.store.cases.case_view(2).status is CaseStatus.VERDICT, timeout=15)
    finally:
        bot.stop()
    access_tokens = set(graph.issued_tokens)
    assert access_tokens
    secrets = {slack.bot_token, slack.signing_secret, graph.client_secret, *access_tokens}
    logged = "\n".join(record.getMessage() + (record.exc_text or "") for record in caplog.records)
    assert logged  # the run did log
    for secret in secrets:
        assert secret not in logged
