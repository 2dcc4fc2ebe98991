"""The loopback Graph + identity emulator, its TLS material, and the schema validator the tests judge requests by.

Everything goes over real HTTPS on 127.0.0.1: plain httpx for Graph, MSAL for the identity platform.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import stat
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from graph_schema import FIXTURES, validate_batch, validate_graph_request, validate_graph_response

from bot.sandbox.graph_emulator import (
    AFTER_SENTINEL,
    MAX_BODY_BYTES,
    GraphEmulator,
)
from bot.sandbox.tls import ClientCertificate, client_context, make_client_certificate

BETA = "/beta/security/threatSubmission"
EMAIL_TYPE = "#microsoft.graph.security.emailContentThreatSubmission"
PREFER = {"Prefer": "include-unknown-enum-members"}


# --- helpers -------------------------------------------------------------------------------------------------


def eml(subject: str = "Quarterly report", body: str = "See you at lunch.", **extra: Any) -> bytes:
    message = EmailMessage()
    message["From"] = extra.get("sender", "Mallory <mallory@evil.example>")
    message["To"] = "alice@contoso.example"
    message["Subject"] = subject
    message["Message-ID"] = extra.get("message_id", "<m1@evil.example>")
    message["Date"] = "Mon, 01 Jan 2024 10:00:00 +0100"
    message.set_content(body)
    for name, content in extra.get("attachments", []):
        message.add_attachment(content, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


def email_body(raw: bytes, **overrides: Any) -> dict[str, Any]:
    return {
        "@odata.type": EMAIL_TYPE,
        "category": "phishing",
        "recipientEmailAddress": "alice@contoso.example",
        "fileContent": base64.b64encode(raw).decode("ascii"),
        **overrides,
    }


def url_body(url: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.security.urlThreatSubmission",
        "category": "phishing",
        "webUrl": url,
    }


class MsalHttpx(httpx.Client):
    """httpx as MSAL's http_client. MSAL puts the client assertion into the form as bytes, which requests
    encodes as text but httpx would send as "b'...'"; the bot's client needs the same care."""

    def post(self, url: Any, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = {key: value.decode() if isinstance(value, bytes) else value for key, value in data.items()}
        return super().post(url, params=params, data=data, headers=headers, **kwargs)


class Client:
    """Plain httpx against the emulator, with a token issued directly (no OAuth dance)."""

    def __init__(self, graph: GraphEmulator, tls, *, token: str | None = None, timeout: float = 5.0) -> None:
        self.graph = graph
        self.http = httpx.Client(verify=client_context(tls.ca_file), trust_env=False, timeout=timeout)
        self.token = token if token is not None else graph.issue_token()

    def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any):
        all_headers = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        url = path if path.startswith("https://") else self.graph.base_url + path
        return self.http.request(method, url, headers=all_headers, **kwargs)

    def create(self, kind: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response = self.request("POST", f"{BETA}/{kind}", json=body, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()

    def batch(self, requests: list[dict[str, Any]], version: str = "beta") -> httpx.Response:
        return self.request("POST", f"/{version}/$batch", json={"requests": requests})


def wait_for(predicate, *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def certificate() -> ClientCertificate:
    return make_client_certificate("phishbot-test")


@pytest.fixture
def start(tls) -> Iterator:
    started: list[GraphEmulator] = []

    def _start(**kwargs: Any) -> GraphEmulator:
        kwargs.setdefault("request_validator", validate_graph_request)
        emulator = GraphEmulator(tls, **kwargs).start()
        started.append(emulator)
        return emulator

    yield _start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def graph(start) -> GraphEmulator:  # overrides conftest's: these tests provoke validation errors on purpose
    return start(verdict_after=60.0)


@pytest.fixture
def client(graph, tls) -> Iterator[Client]:
    c = Client(graph, tls)
    yield c
    c.http.close()


def msal_app(graph: GraphEmulator, tls, credential: Any, http: httpx.Client | None = None):
    return msal.ConfidentialClientApplication(
        graph.client_id,
        authority=f"{graph.base_url}/{graph.tenant_id}",
        client_credential=credential,
        http_client=http or MsalHttpx(verify=client_context(tls.ca_file), trust_env=False),
        instance_discovery=False,
    )


# --- the schema validator ------------------------------------------------------------------------------------


def test_validator_accepts_a_valid_email_content_submission():
    assert validate_graph_request("POST", f"{BETA}/emailThreats", email_body(b"Subject: x\r\n\r\nhi")) == []


def test_validator_requires_recipient_address_inherited_from_the_base_type():
    body = email_body(b"x")
    del body["recipientEmailAddress"]
    problems = validate_graph_request("POST", f"{BETA}/emailThreats", body)
    assert any("recipientEmailAddress" in problem for problem in problems), problems


def test_validator_rejects_a_category_outside_the_enum():
    problems = validate_graph_request("POST", f"{BETA}/emailThreats", email_body(b"x", category="notSpam"))
    assert any("category" in problem and "notSpam" in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("odata_type", "expected"),
    [
        ("#microsoft.graph.emailContentThreatSubmission", "unknown @odata.type"),  # namespace missing
        (
            "#microsoft.graph.security.urlThreatSubmission",
            "not allowed here",
        ),  # a real type, wrong collection
        ("microsoft.graph.security.emailContentThreatSubmission", "must be a string like"),
        (None, "@odata.type is required"),  # emailThreatSubmission is abstract
    ],
)
def test_validator_rejects_a_wrong_odata_type(odata_type, expected):
    body = email_body(b"x")
    if odata_type is None:
        del body["@odata.type"]
    else:
        body["@odata.type"] = odata_type
    problems = validate_graph_request("POST", f"{BETA}/emailThreats", body)
    assert any(expected in problem for problem in problems), problems


def test_validator_checks_the_derived_type_named_by_odata_type():
    by_url = {
        "@odata.type": "#microsoft.graph.security.emailUrlThreatSubmission",
        "category": "spam",
        "recipientEmailAddress": "alice@contoso.example",
        "messageUri": "https://graph.microsoft.com/beta/users/u/messages/m",  # the v1.0 assessment API's name
    }
    problems = validate_graph_request("POST", f"{BETA}/emailThreats", by_url)
    assert any("missing required property 'messageUrl'" in problem for problem in problems), problems
    assert any("unknown property 'messageUri'" in problem for problem in problems), problems
    by_url["messageUrl"] = by_url.pop("messageUri")
    assert validate_graph_request("POST", f"{BETA}/emailThreats", by_url) == []


def test_validator_handles_nullable_values_and_nested_types():
    path = f"{BETA}/emailThreats"
    assert validate_graph_request("POST", path, email_body(b"x", tenantAllowOrBlockListAction=None)) == []
    problems = validate_graph_request("POST", path, email_body(b"x", recipientEmailAddress=None))
    assert any("recipientEmailAddress" in problem for problem in problems), problems
    nested = email_body(b"x", tenantAllowOrBlockListAction={"action": "deny", "note": "n"})
    problems = validate_graph_request("POST", path, nested)
    assert problems == [
        "tenantAllowOrBlockListAction/action: 'deny' is not a member of tenantAllowBlockListAction"
    ]


def test_validator_accepts_comma_joined_flag_enums():
    purge = "/v1.0/security/cases/ediscoveryCases/c1/searches/s1/purgeData"
    assert validate_graph_request("POST", purge, {"purgeAreas": "mailboxes,teamsMessages"}) == []
    assert validate_graph_request("POST", purge, {"purgeAreas": "mailboxes,calendars"}) != []
    submission = {
        "@odata.type": EMAIL_TYPE,
        "id": "1",
        "category": "phishing",
        "recipientEmailAddress": "a@b.example",
        "result": {"userMailboxSetting": "isFromDomainInDomainSafeList,isJunkMailRuleEnabled"},
    }
    assert validate_graph_response("GET", f"{BETA}/emailThreats/1", 200, submission) == []


def test_validator_knows_paths_aliases_and_case_insensitive_action_parameters():
    assert validate_graph_request("GET", f"{BETA}/emailThreats/abc", None) == []
    assert "unknown path" in validate_graph_request("GET", f"{BETA}/mailThreats/abc", None)[0]
    assert "not an operation" in validate_graph_request("DELETE", f"{BETA}/emailThreats/abc", None)[0]
    assert (
        "unknown path"
        in validate_graph_request("GET", "/v1.0/security/threatSubmission/emailThreats", None)[0]
    )
    remediate = {
        "displayName": "Clean up",
        "description": "Delete email",
        "severity": "medium",
        "action": "softDelete",
        "remediateSendersCopy": False,
        "analyzedEmails": [{"networkMessageId": "n1", "recipientEmailAddress": "alice@contoso.example"}],
    }
    for spelling in ("remediate", "microsoft.graph.security.remediate"):
        path = f"/v1.0/security/collaboration/analyzedEmails/{spelling}"
        assert validate_graph_request("POST", path, remediate) == []
    bad = {**remediate, "remediateSendersCopy": "false", "action": "nuke"}
    assert (
        len(validate_graph_request("POST", "/v1.0/security/collaboration/analyzedEmails/remediate", bad)) == 2
    )
    assert (
        validate_graph_request("POST", "/v1.0/security/runHuntingQuery", {"Query": "EmailEvents | take 1"})
        == []
    )
    assert validate_graph_request("POST", "/v1.0/security/runHuntingQuery", {"Timespan": "P30D"}) != []
    move = {"DestinationId": "deleteditems"}
    assert validate_graph_request("POST", "/v1.0/users/u1/messages/m1/microsoft.graph.move", move) == []


def test_validate_batch_checks_the_envelope_and_each_inner_request():
    good = {"requests": [{"id": "1", "method": "GET", "url": "/security/threatSubmission/emailThreats/x"}]}
    assert validate_batch(good, version="beta") == []
    assert validate_graph_request("POST", "/beta/$batch", good) == []
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/x"} for i in range(21)]}
    assert validate_batch(too_many) == ["requests: has 21 items; maxItems is 20"]
    bad = {
        "requests": [
            {"id": "1", "method": "GET", "url": "/beta/security/threatSubmission/emailThreats/x"},
            {
                "id": "1",
                "method": "POST",
                "url": "/security/threatSubmission/urlThreats",
                "body": {"category": "x"},
            },
        ]
    }
    problems = "\n".join(validate_batch(bad, version="beta"))
    for expected in (
        "must not repeat the version",
        "duplicate id",
        "needs a Content-Type",
        "webUrl",
        "category",
    ):
        assert expected in problems
    # Inner bodies are the emulator's to judge one by one (Graph answers those inside a 200 batch).
    inner = {**bad["requests"][1], "headers": {"Content-Type": "application/json"}}
    assert validate_graph_request("POST", "/beta/$batch", {"requests": [inner]}) == []
    assert validate_batch({"requests": [inner]}, version="beta") != []


def test_embedded_after_sentinel_members_match_the_vendored_enums():
    enums = json.loads((FIXTURES / "enums.json").read_text(encoding="utf-8"))["enums"]
    for name, members in AFTER_SENTINEL.items():
        assert set(enums[name]["beta"]["afterSentinel"]) == members, name


# --- TLS ---------------------------------------------------------------------------------------------------


def test_tls_material_is_trusted_only_through_its_own_ca(tls, graph):
    key_mode = stat.S_IMODE(os.stat(tls.key_file).st_mode)
    assert key_mode == 0o600
    cert = x509.load_pem_x509_certificate(tls.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    with httpx.Client(verify=client_context(tls.ca_file), trust_env=False) as trusting:
        assert trusting.get(f"https://localhost:{graph.port}/v1.0/$batch").status_code == 401
    with (
        httpx.Client(verify=ssl.create_default_context(), trust_env=False) as stranger,
        pytest.raises(httpx.ConnectError),
    ):
        stranger.get(graph.base_url + "/v1.0/$batch")


def test_client_certificate_bundles_key_and_certificate(certificate):
    assert b"BEGIN PRIVATE KEY" in certificate.pem and certificate.certificate_pem in certificate.pem
    loaded = x509.load_pem_x509_certificate(certificate.certificate_pem)
    assert loaded.fingerprint(hashes.SHA1()).hex() == certificate.thumbprint_sha1
    serialization.load_pem_private_key(certificate.private_key_pem, password=None)
    assert "PRIVATE" not in repr(certificate)


# --- identity ----------------------------------------------------------------------------------------------


def test_msal_client_secret_gets_a_token_that_graph_accepts_and_is_cached(graph, tls):
    plain = httpx.Client(verify=client_context(tls.ca_file), trust_env=False)  # enough for a secret
    app = msal_app(graph, tls, graph.client_secret, http=plain)
    first = app.acquire_token_for_client(scopes=[graph.scope])
    second = app.acquire_token_for_client(scopes=[graph.scope])
    assert first["token_type"] == "Bearer" and first["expires_in"] > 3000
    assert second["access_token"] == first["access_token"] and second["token_source"] == "cache"
    assert graph.token_requests == 1
    client = Client(graph, tls, token=first["access_token"])
    assert client.request("GET", f"{BETA}/emailThreats").status_code == 200
    token_request = next(r for r in graph.requests if r.path.endswith("/oauth2/v2.0/token"))
    assert token_request.body["client_secret"] == "***" and token_request.body["scope"] == graph.scope
    assert graph.client_secret not in repr(graph.requests) and graph.client_secret not in repr(graph)


def test_msal_wrong_secret_is_invalid_client_without_echoing_it(graph, tls):
    result = msal_app(graph, tls, "not-the-secret-123").acquire_token_for_client(scopes=[graph.scope])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215")
    assert "not-the-secret-123" not in json.dumps(result)


@pytest.mark.parametrize("send_certificate", [False, True], ids=["RS256-x5t", "PS256-x5c"])
def test_msal_certificate_credential(start, tls, certificate, send_certificate):
    graph = start(client_secret=None, client_certificate=certificate)
    credential = certificate.msal_credential(send_certificate=send_certificate)
    result = msal_app(graph, tls, credential).acquire_token_for_client(scopes=[graph.scope])
    assert result.get("token_type") == "Bearer", result.get("error_description")
    assert graph.requests[-1].body["client_assertion"] == "***"


def test_plain_httpx_mangles_msal_certificate_assertions(start, tls, certificate):
    # A pitfall the emulator catches like Entra would: MSAL hands the assertion over as bytes, and httpx
    # form-encodes bytes as "b'...'". Hence MsalHttpx above (and the same care in bot.microsoft.auth).
    graph = start(client_secret=None, client_certificate=certificate)
    plain = httpx.Client(verify=client_context(tls.ca_file), trust_env=False)
    result = msal_app(graph, tls, certificate.msal_credential(), http=plain).acquire_token_for_client(
        scopes=[graph.scope]
    )
    assert result["error"] == "invalid_client" and "AADSTS700027" in result["error_description"]


def assertion(graph: GraphEmulator, key: Any, **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "aud": graph.token_endpoint,
        "iss": graph.client_id,
        "sub": graph.client_id,
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        **claims,
    }
    return jwt.encode(payload, key, algorithm="RS256")


@pytest.mark.parametrize(
    ("forge", "expected"),
    [
        ("stranger-key", "signature"),
        ("expired", "expired"),
        ("audience", "audience"),
        ("issuer", "iss and sub"),
    ],
)
def test_forged_or_stale_client_assertions_are_refused(start, tls, certificate, forge, expected):
    graph = start(client_secret=None, client_certificate=certificate)
    key = serialization.load_pem_private_key(certificate.private_key_pem, password=None)
    if forge == "stranger-key":
        token = assertion(graph, rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif forge == "expired":
        token = assertion(graph, key, iat=int(time.time()) - 4000, exp=int(time.time()) - 3600)
    elif forge == "audience":
        token = assertion(graph, key, aud="https://login.microsoftonline.com/x/oauth2/v2.0/token")
    else:
        token = assertion(graph, key, iss="someone-else")
    form = {
        "grant_type": "client_credentials",
        "client_id": graph.client_id,
        "scope": graph.scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": token,
    }
    with httpx.Client(verify=client_context(tls.ca_file), trust_env=False) as http:
        response = http.post(graph.token_endpoint, data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert expected in response.json()["error_description"]
    assert token not in response.text
    good = http_token(graph, tls, client_assertion=assertion(graph, key))
    assert good.status_code == 200


def http_token(graph: GraphEmulator, tls, **form: str) -> httpx.Response:
    fields = {"grant_type": "client_credentials", "client_id": graph.client_id, "scope": graph.scope, **form}
    if "client_assertion" in fields:
        fields["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    with httpx.Client(verify=client_context(tls.ca_file), trust_env=False) as http:
        return http.post(graph.token_endpoint, data=fields)


def test_token_endpoint_checks_scope_client_and_tenant(graph, tls):
    assert http_token(graph, tls, client_secret=graph.client_secret).status_code == 200
    wrong_scope = http_token(
        graph, tls, client_secret=graph.client_secret, scope="https://graph.microsoft.com/.default"
    )
    assert wrong_scope.json()["error"] == "invalid_scope"
    assert http_token(graph, tls, client_secret=graph.client_secret, client_id="other").status_code == 400
    assert http_token(graph, tls).json()["error"] == "invalid_client"  # no credential at all
    with httpx.Client(verify=client_context(tls.ca_file), trust_env=False) as http:
        discovery = http.get(
            f"{graph.base_url}/{graph.tenant_id}/v2.0/.well-known/openid-configuration"
        ).json()
        assert discovery["token_endpoint"] == graph.token_endpoint
        assert (
            http.get(f"{graph.base_url}/elsewhere/v2.0/.well-known/openid-configuration").status_code == 400
        )
    assert graph.token_requests == 4


def test_graph_refuses_missing_unknown_and_expired_tokens(graph, client):
    assert client.request("GET", f"{BETA}/emailThreats").status_code == 200
    anonymous = client.http.get(graph.base_url + f"{BETA}/emailThreats")
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "InvalidAuthenticationToken"
    forged = Client(graph, graph.tls, token="made-up")
    assert forged.request("GET", f"{BETA}/emailThreats").status_code == 401
    graph.expire_tokens()
    expired = client.request("GET", f"{BETA}/emailThreats")
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


# --- threat submission ---------------------------------------------------------------------------------------


def test_email_submission_reads_its_facts_from_the_mime(client, graph):
    raw = eml(
        "Please verify your account", "Log in at https://login.evil.example/x today", message_id="<abc@evil>"
    )
    created = client.create("emailThreats", email_body(raw))
    assert created["status"] == "running" and created["result"]["detail"] == "underInvestigation"
    assert created["source"] == "administrator" and created["contentType"] == "email"
    assert created["internetMessageId"] == "<abc@evil>"
    assert created["subject"] == "Please verify your account"
    assert created["sender"] == "mallory@evil.example"
    assert created["receivedDateTime"] == "2024-01-01T09:00:00Z"
    assert created["recipientEmailAddress"] == "alice@contoso.example"
    assert created["tenantId"] == graph.tenant_id and "fileContent" not in created
    uuid.UUID(created["id"])
    assert validate_graph_response("POST", f"{BETA}/emailThreats", 201, created) == []
    fetched = client.request("GET", f"{BETA}/emailThreats/{created['id']}")
    assert fetched.json() == created


def test_verdict_arrives_after_verdict_after_seconds(start, tls):
    graph = start(verdict_after=0.2)
    client = Client(graph, tls)
    created = client.create("urlThreats", url_body("https://phish.example/login"))
    assert created["status"] == "running"

    def status() -> str:
        return client.request("GET", f"{BETA}/urlThreats/{created['id']}", headers=PREFER).json()["status"]

    wait_for(lambda: status() == "succeeded")
    final = client.request("GET", f"{BETA}/urlThreats/{created['id']}", headers=PREFER).json()
    assert final["result"]["category"] == "phishing"
    assert final["result"]["detectedUrls"] == ["phish.example"]
    assert validate_graph_response("GET", f"{BETA}/urlThreats/x", 200, final) == []


def test_running_until_settled(graph, client):
    created = client.create("urlThreats", url_body("https://phish.example/"))
    assert client.request("GET", f"{BETA}/urlThreats/{created['id']}").json()["status"] == "running"
    graph.settle(created["id"])
    assert client.request("GET", f"{BETA}/urlThreats/{created['id']}").json()["status"] == "succeeded"
    assert graph.submissions[created["id"]]["status"] == "succeeded"


@pytest.mark.parametrize(
    ("raw", "category", "detail"),
    [
        (eml("Security awareness simulation", "hello"), "phishingSimulation", "simulatedThreat"),
        (
            eml("Invoice", "see attached", attachments=[("invoice.zip", b"PK\x03\x04zip")]),
            "malware",
            "urlFileShouldBeBlocked",
        ),
        (
            eml("Reset your password", "https://xn--micrsoft-8za.example/reset"),
            "phishing",
            "domainImpersonation",
        ),
        (eml("Lunch?", "Pizza at noon"), "noThreatsFound", "itemFoundClean"),
    ],
    ids=["simulation", "malware", "phishing", "clean"],
)
def test_default_outcome_rules(graph, client, raw, category, detail):
    created = client.create("emailThreats", email_body(raw))
    graph.settle()
    final = client.request("GET", f"{BETA}/emailThreats/{created['id']}", headers=PREFER).json()
    assert (final["result"]["category"], final["result"]["detail"]) == (category, detail)
    if category == "phishingSimulation":
        assert final["attackSimulationInfo"]["attackSimUserId"] == "alice@contoso.example"
    if category == "malware":
        digest = hashlib.sha256(b"PK\x03\x04zip").hexdigest()
        assert final["result"]["detectedFiles"] == [{"fileName": "invoice.zip", "fileHash": digest}]
    if category == "phishing":
        assert final["result"]["userMailboxSetting"] == "isJunkMailRuleEnabled,fromFirstTimeSender"
    assert validate_graph_response("GET", f"{BETA}/emailThreats/x", 200, final) == []


def test_outcome_is_replaceable_and_may_end_in_failure(graph, client):
    seen: list[tuple[str, str]] = []

    def outcome(content_type: str, body: dict[str, Any]) -> dict[str, Any]:
        seen.append((content_type, body["fileName"]))
        return {"category": "spam", "detail": "allowedByTenant", "status": "failed"}

    graph.outcome = outcome
    body = {
        "@odata.type": "#microsoft.graph.security.fileContentThreatSubmission",
        "category": "malware",
        "fileName": "report.pdf",
        "fileContent": base64.b64encode(b"%PDF-1.7").decode(),
    }
    created = client.create("fileThreats", body)
    graph.settle()
    final = client.request("GET", f"{BETA}/fileThreats/{created['id']}").json()
    assert seen == [("file", "report.pdf")]
    assert final["status"] == "failed" and final["result"]["category"] == "spam"
    assert final["fileName"] == "report.pdf" and final["contentType"] == "file"


def test_block_action_reports_list_entries_once_settled(graph, client):
    action = {"action": "block", "expirationDateTime": "2030-01-01T00:00:00Z", "note": "phishbot"}
    raw = eml("phish", "https://bad.example/x")
    created = client.create("emailThreats", email_body(raw, tenantAllowOrBlockListAction=action))
    assert created["tenantAllowOrBlockListAction"]["results"] == []
    graph.settle()
    final = client.request("GET", f"{BETA}/emailThreats/{created['id']}").json()
    entries = {(r["entryType"], r["value"]) for r in final["tenantAllowOrBlockListAction"]["results"]}
    assert entries == {("sender", "mallory@evil.example"), ("url", "bad.example")}
    assert validate_graph_response("GET", f"{BETA}/emailThreats/x", 200, final) == []


@pytest.mark.parametrize(
    "raw",
    [
        b"\x00\xff" * 5000,
        b"Subject: =?x-unknown?B?////?=\r\nFrom: <<<@>>>\r\nDate: yesterday\r\nContent-Type: text/plain; charset=nope"
        b"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n"
        + b"--a\r\nContent-Type: multipart/mixed; boundary=a\r\n\r\n" * 3000,
        b"\r\n",
    ],
    ids=["binary", "broken-headers", "deep-multipart", "blank"],
)
def test_hostile_mime_never_breaks_the_emulator(graph, client, raw):
    created = client.create("emailThreats", email_body(raw))
    graph.settle()
    assert client.request("GET", f"{BETA}/emailThreats/{created['id']}").status_code == 200


def test_bad_submissions_are_refused_with_graph_errors(start, tls):
    graph = start(request_validator=None)  # the emulator's own checks, without the schema validator
    client = Client(graph, tls)
    cases = [
        (email_body(b"x", fileContent="%%% not base64 %%%"), "base64"),
        ({k: v for k, v in email_body(b"x").items() if k != "@odata.type"}, "abstract"),
        (email_body(b"x", category="notSpam"), "category"),
        (
            {k: v for k, v in email_body(b"x").items() if k != "recipientEmailAddress"},
            "recipientEmailAddress",
        ),
    ]
    for body, expected in cases:
        response = client.request("POST", f"{BETA}/emailThreats", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "BadRequest"
        assert expected in response.json()["error"]["message"]
    broken = client.request(
        "POST", f"{BETA}/urlThreats", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400
    assert (
        client.request("GET", f"{BETA}/emailThreats/{uuid.uuid4()}").json()["error"]["code"]
        == "ResourceNotFound"
    )
    url = client.create("urlThreats", url_body("https://x.example"))
    assert client.request("GET", f"{BETA}/emailThreats/{url['id']}").status_code == 404
    assert client.request("GET", "/v1.0/security/threatSubmission/urlThreats").status_code == 400


def test_unknown_enum_members_need_the_prefer_header(graph, client):
    created = client.create("emailThreats", email_body(eml("Lunch?", "Pizza")))
    graph.settle()
    path = f"{BETA}/emailThreats/{created['id']}"
    plain = client.request("GET", path)
    preferred = client.request(
        "GET", path, headers={"Prefer": 'IdType="ImmutableId", include-unknown-enum-members'}
    )
    assert plain.json()["result"]["category"] == "unknownFutureValue"
    assert plain.json()["result"]["detail"] == "unknownFutureValue"
    assert "preference-applied" not in plain.headers
    assert preferred.json()["result"]["category"] == "noThreatsFound"
    assert preferred.json()["result"]["detail"] == "itemFoundClean"
    assert preferred.headers["preference-applied"] == "include-unknown-enum-members"
    listed = client.request("GET", f"{BETA}/emailThreats").json()["value"]
    assert listed[0]["result"]["category"] == "unknownFutureValue"
    assert graph.submissions[created["id"]]["result"]["category"] == "noThreatsFound"


def test_list_filters_and_pages_with_next_link(graph, client):
    ids = [client.create("urlThreats", url_body(f"https://site{i}.example/"))["id"] for i in range(5)]
    graph.settle(ids[0])
    query = {"$filter": "status eq 'running'", "$top": "2", "$count": "true"}
    page = client.request("GET", f"{BETA}/urlThreats", params=query).json()
    assert page["@odata.count"] == 4
    seen = [item["id"] for item in page["value"]]
    while "@odata.nextLink" in page:
        page = client.request("GET", page["@odata.nextLink"]).json()
        assert validate_graph_response("GET", f"{BETA}/urlThreats", 200, page) == []
        seen.extend(item["id"] for item in page["value"])
    assert seen == ids[1:]
    assert client.request("GET", f"{BETA}/urlThreats", params={"$filter": "webUrl eq 'x'"}).status_code == 400
    assert client.request("GET", f"{BETA}/emailThreats").json()["value"] == []


# --- $batch ------------------------------------------------------------------------------------------------


def get(request_id: str, kind: str, submission_id: str, **headers: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": request_id,
        "method": "GET",
        "url": f"/security/threatSubmission/{kind}/{submission_id}",
    }
    if headers:
        item["headers"] = headers
    return item


def test_batch_answers_every_id_in_another_order_with_per_request_prefer(graph, client):
    created = [client.create("emailThreats", email_body(eml("Lunch?", f"pizza {i}")))["id"] for i in range(6)]
    graph.settle()
    requests = [get(str(i), "emailThreats", sid) for i, sid in enumerate(created)]
    requests[0]["headers"] = PREFER
    response = client.batch(requests)
    assert response.status_code == 200
    responses = response.json()["responses"]
    assert sorted(r["id"] for r in responses) == sorted(r["id"] for r in requests)
    assert [r["id"] for r in responses] != [r["id"] for r in requests]
    by_id = {r["id"]: r for r in responses}
    assert by_id["0"]["body"]["result"]["category"] == "noThreatsFound"
    assert by_id["1"]["body"]["result"]["category"] == "unknownFutureValue"
    assert all(r["status"] == 200 and r["headers"]["Content-Type"] == "application/json" for r in responses)
    assert graph.batch_count == 1 and graph.batch_inner_count == 6
    assert len(graph.batch_requests()) == 6 and all(r.in_batch for r in graph.batch_requests())
    assert {r.batch_id for r in graph.batch_requests()} == {str(i) for i in range(6)}
    assert graph.batch_requests()[0].path == f"{BETA}/emailThreats/{created[0]}"
    assert [r.path for r in graph.graph_requests()].count("/beta/$batch") == 1


def test_batch_inner_throttling_carries_its_own_retry_after(graph, client):
    first = client.create("urlThreats", url_body("https://a.example"))["id"]
    second = client.create("urlThreats", url_body("https://b.example"))["id"]
    graph.fail_next(f"GET {BETA}/urlThreats/{{id}}", status=429, retry_after=0.5, in_batch=True)
    responses = {
        r["id"]: r
        for r in client.batch([get("a", "urlThreats", first), get("b", "urlThreats", second)]).json()[
            "responses"
        ]
    }
    throttled = [r for r in responses.values() if r["status"] == 429]
    assert len(throttled) == 1
    assert throttled[0]["headers"]["Retry-After"] == "0.5"
    assert throttled[0]["body"]["error"]["code"] == "TooManyRequests"
    # The fault was used up: the retry of the throttled id succeeds; direct requests were never affected.
    again = client.batch(
        [get(throttled[0]["id"], "urlThreats", first if throttled[0]["id"] == "a" else second)]
    )
    assert again.json()["responses"][0]["status"] == 200


def test_batch_envelope_errors_fail_the_whole_batch(graph, client):
    assert client.batch([get(str(i), "urlThreats", "x") for i in range(21)]).status_code == 400
    duplicate = client.batch([get("1", "urlThreats", "x"), get("1", "urlThreats", "y")])
    assert duplicate.status_code == 400 and "duplicate" in duplicate.json()["error"]["message"]
    assert client.request("POST", "/beta/$batch", json={"requests": []}).status_code == 400
    assert graph.batch_count == 0


def test_batch_inner_errors_stay_inside(start, tls):
    # Without the schema validator, which would (rightly) refuse this whole batch as a client bug.
    graph = start(request_validator=None)
    client = Client(graph, tls)
    sid = client.create("urlThreats", url_body("https://a.example"))["id"]
    requests = [
        get("missing", "urlThreats", str(uuid.uuid4())),
        {
            "id": "absolute",
            "method": "GET",
            "url": f"{graph.base_url}/beta/security/threatSubmission/urlThreats/{sid}",
        },
        {
            "id": "after",
            "method": "GET",
            "url": f"/security/threatSubmission/urlThreats/{sid}",
            "dependsOn": ["missing"],
        },
        {
            "id": "nobody-type",
            "method": "POST",
            "url": "/security/threatSubmission/urlThreats",
            "body": url_body("https://b.example"),
        },
        {"id": "no-slash", "method": "GET", "url": f"security/threatSubmission/urlThreats/{sid}"},
    ]
    responses = {r["id"]: r for r in client.batch(requests).json()["responses"]}
    assert responses["missing"]["status"] == 404
    assert responses["absolute"]["status"] == 400
    assert responses["after"]["status"] == 424
    assert responses["nobody-type"]["status"] == 400  # a body needs a Content-Type header
    assert responses["no-slash"]["status"] == 200


def test_v1_batch_resolves_inner_urls_against_v1(graph, client):
    response = client.batch([get("1", "urlThreats", "x")], version="v1.0")
    assert response.status_code == 200
    assert response.json()["responses"][0]["status"] == 400  # threatSubmission is beta-only
    assert graph.batch_requests()[0].path == "/v1.0/security/threatSubmission/urlThreats/x"


def test_submissions_can_be_created_inside_a_batch(graph, client):
    item = {
        "id": "new",
        "method": "POST",
        "url": "/security/threatSubmission/urlThreats",
        "headers": {"Content-Type": "application/json"},
        "body": url_body("https://c.example"),
    }
    response = client.batch([item]).json()["responses"][0]
    assert response["status"] == 201
    assert response["body"]["id"] in graph.submissions


# --- fault injection ---------------------------------------------------------------------------------------


def test_fail_next_answers_the_given_status_then_recovers(graph, client):
    route = f"POST {BETA}/urlThreats"
    graph.fail_next(route, status=503, times=2)
    graph.fail_next(route, status=429, retry_after=1)
    statuses = [
        client.request("POST", f"{BETA}/urlThreats", json=url_body("https://x.example")) for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [503, 503, 429, 201]
    assert statuses[0].json()["error"]["code"] == "ServiceUnavailable"
    assert statuses[2].headers["Retry-After"] == "1"
    assert statuses[2].json()["error"]["code"] == "TooManyRequests"
    assert statuses[2].json()["error"]["innerError"]["status"] == "429"
    assert len(graph.submissions) == 1
    assert [r.status for r in graph.graph_requests()] == [503, 503, 429, 201]


def test_fail_next_can_send_malformed_json_and_matches_ids(graph, client):
    sid = client.create("urlThreats", url_body("https://x.example"))["id"]
    graph.fail_next(f"GET {BETA}/urlThreats/{{id}}", status=200, body=b"{not json")
    broken = client.request("GET", f"{BETA}/urlThreats/{sid}")
    assert broken.status_code == 200 and broken.content == b"{not json"
    assert client.request("GET", f"{BETA}/urlThreats/{sid}").json()["id"] == sid
    with pytest.raises(ValueError, match="route"):
        graph.fail_next("urlThreats", status=500)


def test_fail_next_delay_makes_clients_time_out(graph, tls):
    graph.fail_next(f"GET {BETA}/urlThreats", status=200, delay=0.6)
    impatient = Client(graph, tls, timeout=0.1)
    with pytest.raises(httpx.ReadTimeout):
        impatient.request("GET", f"{BETA}/urlThreats")
    impatient.http.close()


def test_fail_next_on_the_token_endpoint(graph, tls):
    graph.fail_next("POST /{tenant}/oauth2/v2.0/token", status=503, retry_after=0.1)
    failed = http_token(graph, tls, client_secret=graph.client_secret)
    assert failed.status_code == 503 and failed.json()["error"] == "temporarily_unavailable"
    assert failed.headers["Retry-After"] == "0.1"
    assert http_token(graph, tls, client_secret=graph.client_secret).status_code == 200


def test_whole_batch_can_fail(graph, client):
    graph.fail_next("POST /beta/$batch", status=503)
    assert client.batch([get("1", "urlThreats", "x")]).status_code == 503
    assert client.batch([get("1", "urlThreats", "x")]).status_code == 200


# --- validation, recording, robustness ---------------------------------------------------------------------


def test_request_validator_problems_answer_400_and_are_kept(graph, client):
    body = email_body(eml())
    del body["recipientEmailAddress"]
    response = client.request("POST", f"{BETA}/emailThreats", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadRequest"
    assert "recipientEmailAddress" in response.json()["error"]["message"]
    assert len(graph.validation_errors) == 1 and graph.validation_errors[0].startswith(
        f"POST {BETA}/emailThreats"
    )
    inner = {
        "id": "1",
        "method": "POST",
        "url": "/security/threatSubmission/urlThreats",
        "headers": {"Content-Type": "application/json"},
        "body": {**url_body("https://x"), "category": "bogus"},
    }
    answer = client.batch([inner]).json()["responses"][0]
    assert answer["status"] == 400 and "bogus" in answer["body"]["error"]["message"]
    assert len(graph.validation_errors) == 2 and graph.submissions == {}


def test_validator_sees_versioned_paths_for_direct_and_inner_requests(start, tls):
    calls: list[tuple[str, str, Any]] = []

    def spy(method: str, path: str, body: dict | None) -> list[str]:
        calls.append((method, path, body))
        return []

    graph = start(request_validator=spy)
    client = Client(graph, tls)
    client.batch([get("1", "urlThreats", "abc")])
    assert calls[0][:2] == ("POST", "/beta/$batch")
    assert calls[1] == ("GET", f"{BETA}/urlThreats/abc", None)


def test_recorded_requests_have_lower_case_headers_and_no_secrets(graph, client):
    client.request("GET", f"{BETA}/urlThreats", params={"$top": "5"}, headers={"X-Trace": "t1"})
    recorded = graph.graph_requests()[-1]
    assert recorded.method == "GET" and recorded.path == f"{BETA}/urlThreats"
    assert recorded.query == {"$top": "5"} and recorded.headers["x-trace"] == "t1"
    assert recorded.headers["authorization"] == "Bearer ***" and recorded.status == 200
    assert client.token not in repr(graph.requests)


def test_a_handler_crash_answers_500_and_the_server_lives_on(graph, client):
    def boom(request):
        raise RuntimeError("bug")

    graph.add_route("GET /v1.0/users/{id}/messages", boom)
    graph.add_route(
        "GET /v1.0/users/{id}/messages/{id}", lambda request: (200, {"id": "m1"}, {"X-Extra": "1"})
    )
    assert client.request("GET", "/v1.0/users/u1/messages").status_code == 500
    message = client.request("GET", "/v1.0/users/u1/messages/m1")
    assert message.json() == {"id": "m1"} and message.headers["x-extra"] == "1"


def test_oversized_bodies_are_refused_without_reading_them(graph, tls):
    context = client_context(tls.ca_file)
    with (
        socket.create_connection(("127.0.0.1", graph.port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket,
    ):
        tls_socket.sendall(
            f"POST {BETA}/emailThreats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        assert tls_socket.recv(100).startswith(b"HTTP/1.1 413")


def test_the_emulator_is_quiet(capfd, tls, graph, client):
    client.request("GET", f"{BETA}/urlThreats")
    client.request("GET", "/nowhere")
    with (
        httpx.Client(verify=ssl.create_default_context(), trust_env=False) as stranger,
        pytest.raises(httpx.ConnectError),
    ):
        stranger.get(graph.base_url)
    client.request("GET", f"{BETA}/urlThreats")  # still serving after a failed handshake
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""
