"""The Report button in the Graph emulator (bot.sandbox.user_reports): user-reported submissions kept with the
others (listed with source and createdDateTime filters and paged, read one by one and in $batch, analysed like
admin ones), the review action per the schema, the user-reported settings, and Graph's permission checks. Answers
are judged by the vendored OpenAPI subset."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from graph_schema import validate_graph_request, validate_graph_response
from test_graph_emulator import BETA, Client, email_body, eml, wait_for

from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.user_reports import ReportButton

ALICE = "alice@contoso.example"


@pytest.fixture
def graph(tls) -> Iterator[GraphEmulator]:  # overrides conftest's: some requests here are invalid on purpose
    emulator = GraphEmulator(tls, verdict_after=60.0, request_validator=validate_graph_request).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def button(graph) -> ReportButton:
    return ReportButton().attach(graph)


@pytest.fixture
def client(graph, tls) -> Iterator[Client]:
    c = Client(graph, tls)
    yield c
    c.http.close()


def listing(client: Client, odata_filter: str, **params) -> dict:
    response = client.request(
        "GET",
        f"{BETA}/emailThreats",
        params={"$filter": odata_filter, **params},
        headers={"Prefer": "include-unknown-enum-members"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert validate_graph_response("GET", f"{BETA}/emailThreats", 200, body) == []
    return body


def test_a_pressed_report_is_a_user_submission_of_the_employee_with_the_messages_headers(
    graph, button, client
):
    raw = eml("Verify your account", message_id="<verify-1@evil.example>")
    submission_id = button.press(ALICE, raw)
    client.create("emailThreats", email_body(eml("admin's own")))  # an admin submission, not listed below
    body = listing(client, "source eq 'user'")
    [item] = body["value"]
    assert item["id"] == submission_id and item["source"] == "user"
    assert item["createdBy"]["email"] == ALICE and item["recipientEmailAddress"] == ALICE
    assert item["internetMessageId"] == "<verify-1@evil.example>"
    assert item["subject"] == "Verify your account" and item["sender"] == "mallory@evil.example"
    assert item["status"] == "running" and item["result"]["detail"] == "underInvestigation"
    # The message is in the employee's mailbox, where Mail.Read finds it by its Internet-Message-ID.
    [message] = graph.mailbox(ALICE)
    assert message["internetMessageId"] == "<verify-1@evil.example>"


def test_a_user_report_is_analysed_like_an_admin_submission(graph, button, client):
    graph.settle()
    submission_id = button.press(ALICE, eml("Your password expires", body="verify your account now"))
    graph.settle(submission_id)
    response = client.request(
        "GET", f"{BETA}/emailThreats/{submission_id}", headers={"Prefer": "include-unknown-enum-members"}
    )
    assert response.status_code == 200
    settled = response.json()
    assert settled["status"] == "succeeded"
    assert settled["result"]["category"] == "phishing"  # the emulator's rule for "verify your account"
    batch = client.batch(
        [{"id": "1", "method": "GET", "url": f"/security/threatSubmission/emailThreats/{submission_id}"}]
    )
    assert batch.json()["responses"][0]["body"]["source"] == "user"


def test_without_reports_to_microsoft_the_result_says_so(graph, button, client):
    button.to_microsoft = False
    submission_id = button.press(ALICE, eml())
    graph.settle(submission_id)
    [item] = listing(client, "source eq 'user'")["value"]
    assert item["result"]["category"] == "notSubmittedToMicrosoft"
    assert item["result"]["detail"] == "checkUserReportedSettings"
    policy = client.request("GET", f"{BETA}/emailThreatSubmissionPolicies").json()
    assert validate_graph_response("GET", f"{BETA}/emailThreatSubmissionPolicies", 200, policy) == []
    assert policy["value"][0]["isReportToMicrosoftEnabled"] is False


def test_the_listing_filters_on_creation_time_and_pages(graph, button, client):
    first = button.press(ALICE, eml(message_id="<a@evil.example>"))
    time.sleep(0.01)
    boundary = graph.submissions[first]["createdDateTime"]
    ids = [button.press(ALICE, eml(message_id=f"<m{n}@evil.example>")) for n in range(5)]
    body = listing(client, f"source eq 'user' and createdDateTime gt {boundary}", **{"$top": "2"})
    seen = [item["id"] for item in body["value"]]
    pages = 1
    while "@odata.nextLink" in body:
        response = client.request(
            "GET", body["@odata.nextLink"], headers={"Prefer": "include-unknown-enum-members"}
        )
        body = response.json()
        seen += [item["id"] for item in body["value"]]
        pages += 1
    assert seen == ids and pages == 3


def test_review_marks_a_user_submission_and_answers_204(graph, button, client):
    submission_id = button.press(ALICE, eml())
    response = client.request(
        "POST", f"{BETA}/emailThreats/{submission_id}/review", json={"category": "Junk"}
    )
    assert response.status_code == 204 and response.content == b""
    assert button.reviews == [(submission_id, "Junk")]
    review = graph.submissions[submission_id]["adminReview"]
    assert review["reviewResult"] == "spam" and review["reviewBy"] == button.reviewer
    assert graph.validation_errors == []


@pytest.mark.parametrize("category", ["spam", "notJunk", "", None])
def test_review_takes_only_the_documented_words(graph, button, client, category):
    submission_id = button.press(ALICE, eml())
    response = client.request(
        "POST", f"{BETA}/emailThreats/{submission_id}/review", json={"category": category}
    )
    assert response.status_code == 400
    assert button.reviews == []


def test_only_an_employees_own_submission_can_be_reviewed(graph, button, client):
    admin = client.create("emailThreats", email_body(eml()))
    response = client.request(
        "POST", f"{BETA}/emailThreats/{admin['id']}/review", json={"category": "phishing"}
    )
    assert response.status_code == 400 and "end users" in response.json()["error"]["message"]
    missing = client.request("POST", f"{BETA}/emailThreats/nope/review", json={"category": "phishing"})
    assert missing.status_code == 404


def test_permissions_are_checked_as_graph_checks_them(graph, button, client):
    submission_id = button.press(ALICE, eml())
    graph.granted_roles = ("ThreatSubmission.Read.All",)
    assert listing(client, "source eq 'user'")["value"]
    refused = client.request(
        "POST", f"{BETA}/emailThreats/{submission_id}/review", json={"category": "phishing"}
    )
    assert refused.status_code == 403 and "ThreatSubmission.ReadWrite.All" in refused.text
    graph.granted_roles = ("Mail.Read",)
    assert client.request("GET", f"{BETA}/emailThreats").status_code == 403
    assert client.request("GET", f"{BETA}/emailThreatSubmissionPolicies").status_code == 403


def test_faults_apply_to_the_listing(graph, button, client):
    button.press(ALICE, eml())
    graph.fail_next(f"GET {BETA}/emailThreats", status=429, retry_after=2)
    throttled = client.request("GET", f"{BETA}/emailThreats")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2"
    wait_for(lambda: client.request("GET", f"{BETA}/emailThreats").status_code == 200)


def test_a_report_of_a_message_already_in_the_mailbox_does_not_copy_it_again(graph, button):
    raw = eml(message_id="<once@evil.example>")
    graph.add_mailbox_message(ALICE, raw)
    button.press(ALICE, raw)
    button.press(ALICE, raw)
    assert len(graph.mailbox(ALICE)) == 1
