"""GraphClient against the loopback Graph + identity emulator, over real TLS: no mocks of our own code.

Delays are real but small (base_delay 0.01 s, injected Retry-After at most 0.3 s); what the client *asked* to
sleep is recorded through the `sleep` seam and asserted on as values, never as elapsed time.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from graph_schema import validate_graph_request

from bot.microsoft import AuthError, GraphClient, GraphError, RetryPolicy, parse_retry_after
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.tls import client_context, make_client_certificate, make_tls

PREFER = "include-unknown-enum-members"
SUBMISSIONS = "/beta/security/threatSubmission"
URL_ROUTE = f"POST {SUBMISSIONS}/urlThreats"
GET_EMAIL_ROUTE = f"GET {SUBMISSIONS}/emailThreats/{{id}}"
GET_URL_ROUTE = f"GET {SUBMISSIONS}/urlThreats/{{id}}"
BATCH_ROUTE = "POST /beta/$batch"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05, timeout=5.0)

RAW_MIME = (
    b"From: Payroll <payroll@contoso-hr.example>\r\n"
    b"To: alice@contoso.example\r\n"
    b"Subject: Verify your account today\r\n"
    b"Message-ID: <abc123@contoso-hr.example>\r\n"
    b"Date: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Enter your password at https://login.contoso-hr.example/reset \xe2\x80\x94 thanks\r\n"
)


class SleepLog:
    """The `sleep` seam: records each requested delay, then really sleeps (the values are tiny)."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        threading.Event().wait(seconds)


@pytest.fixture
def tls_material(tmp_path):
    return make_tls(tmp_path / "tls")


def start_emulator(tls_material, **options) -> GraphEmulator:
    return GraphEmulator(tls_material, request_validator=validate_graph_request, **options).start()


@pytest.fixture
def emulator(tls_material):
    running = start_emulator(tls_material, verdict_after=0.0)
    yield running
    running.stop()
    assert running.validation_errors == [], "requests that do not match the Graph schema were sent"


def make_client(emulator: GraphEmulator, tls_material, **overrides) -> GraphClient:
    options = {
        "tenant_id": emulator.tenant_id,
        "client_id": emulator.client_id,
        "client_secret": emulator.client_secret,
        "authority_host": emulator.base_url,
        "graph_url": emulator.base_url,
        "verify": client_context(tls_material.ca_file),
        "retry": FAST,
    }
    options.update(overrides)
    return GraphClient(**options)


@pytest.fixture
def sleeps():
    return SleepLog()


@pytest.fixture
def client(emulator, tls_material, sleeps):
    graph_client = make_client(emulator, tls_material, sleep=sleeps)
    yield graph_client
    graph_client.close()


def requests_to(emulator: GraphEmulator, method: str, path_prefix: str) -> list:
    return [r for r in emulator.graph_requests() if r.method == method and r.path.startswith(path_prefix)]


# --- authentication -------------------------------------------------------------------------------------------


def test_secret_auth_caches_one_token_for_many_calls(client, emulator):
    first = client.submit_url(url="https://phish.example/login", category="phishing")
    client.submit_url(url="https://other.example/", category="spam")
    client.get_submission("url", first["id"])
    client.read_submissions([("url", first["id"])])

    assert emulator.token_requests == 1
    token_request = next(r for r in emulator.requests if r.path.endswith("/oauth2/v2.0/token"))
    assert token_request.body["grant_type"] == "client_credentials"
    assert token_request.body["scope"] == f"{emulator.base_url}/.default"
    assert "client_secret" in token_request.body


def test_token_is_fetched_once_when_threads_start_together(client, emulator):
    errors: list[BaseException] = []

    def submit(index: int) -> None:
        try:
            client.submit_url(url=f"https://phish.example/{index}", category="phishing")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(emulator.submissions) == 8
    assert emulator.token_requests == 1


def test_certificate_auth_signs_a_client_assertion(tls_material):
    certificate = make_client_certificate()
    with start_emulator(tls_material, client_secret=None, client_certificate=certificate) as emulator:
        with make_client(
            emulator, tls_material, client_secret=None, client_certificate_pem=certificate.pem
        ) as c:
            created = c.submit_url(url="https://phish.example/cert", category="phishing")
        assert created["id"] in emulator.submissions
        token_request = next(r for r in emulator.requests if r.path.endswith("/oauth2/v2.0/token"))
        assert token_request.status == 200
        assert token_request.body["client_assertion_type"] == (
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        assert "client_secret" not in token_request.body
        assert emulator.validation_errors == []


def test_certificate_the_tenant_does_not_know_is_an_auth_error_naming_the_setting(tls_material):
    registered, other = make_client_certificate(), make_client_certificate()
    with start_emulator(tls_material, client_secret=None, client_certificate=registered) as emulator:
        with make_client(emulator, tls_material, client_secret=None, client_certificate_pem=other.pem) as c:
            with pytest.raises(AuthError) as raised:
                c.submit_url(url="https://phish.example/", category="phishing")
    message = str(raised.value)
    assert "MS_CLIENT_CERTIFICATE" in message
    assert "AADSTS700027" in message
    assert "PRIVATE KEY" not in message and "CERTIFICATE-----" not in message
    assert raised.value.retryable is False


@pytest.mark.parametrize("part", ["certificate only", "key only", "garbage"])
def test_certificate_pem_missing_a_part_is_refused_at_construction(part):
    certificate = make_client_certificate()
    pem = {
        "certificate only": certificate.certificate_pem,
        "key only": certificate.private_key_pem,
        "garbage": b"-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n",
    }[part]
    with pytest.raises(AuthError) as raised:
        GraphClient(tenant_id="t", client_id="c", client_certificate_pem=pem)
    message = str(raised.value) + repr(raised.value)
    assert "MS_CLIENT_CERTIFICATE" in message
    assert "BEGIN" not in message and certificate.private_key_pem.decode()[40:80] not in message


def test_certificate_pem_with_a_foreign_certificate_is_refused():
    mine, foreign = make_client_certificate(), make_client_certificate()
    with pytest.raises(AuthError, match="does not match|no certificate"):
        GraphClient(
            tenant_id="t",
            client_id="c",
            client_certificate_pem=mine.private_key_pem + foreign.certificate_pem,
        )


def test_encrypted_or_non_rsa_keys_are_refused_with_the_setting_named():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    certificate = make_client_certificate()
    key = serialization.load_pem_private_key(certificate.private_key_pem, password=None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase-1234"),
    )
    with pytest.raises(AuthError, match="MS_CLIENT_CERTIFICATE.*encrypted|encrypted.*MS_CLIENT_CERTIFICATE"):
        GraphClient(
            tenant_id="t", client_id="c", client_certificate_pem=encrypted + certificate.certificate_pem
        )
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(AuthError, match="must be RSA"):
        GraphClient(tenant_id="t", client_id="c", client_certificate_pem=ec_key + certificate.certificate_pem)


def test_exactly_one_credential_is_required():
    with pytest.raises(AuthError, match="exactly one of MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE"):
        GraphClient(tenant_id="t", client_id="c")
    with pytest.raises(AuthError, match="exactly one"):
        GraphClient(
            tenant_id="t",
            client_id="c",
            client_secret="x" * 20,
            client_certificate_pem=make_client_certificate().pem,
        )


def test_bad_secret_is_an_auth_error_without_the_secret(emulator, tls_material):
    wrong = "wrong-secret-7f3a9c21e6b04d58"
    with make_client(emulator, tls_material, client_secret=wrong) as c:
        with pytest.raises(AuthError) as raised:
            c.submit_url(url="https://phish.example/", category="phishing")
    error = raised.value
    for text in (str(error), repr(error), str(error.args)):
        assert wrong not in text
    assert "invalid_client" in str(error)
    assert "AADSTS7000215" in str(error)
    assert "MS_CLIENT_SECRET" in str(error)
    assert error.retryable is False
    assert requests_to(emulator, "POST", SUBMISSIONS) == []


def test_unknown_tenant_names_ms_tenant_id(emulator, tls_material):
    with make_client(emulator, tls_material, tenant_id="not-our-tenant") as c:
        with pytest.raises(AuthError) as raised:
            c.get_submission("url", "00000000-0000-0000-0000-000000000000")
    assert "MS_TENANT_ID" in str(raised.value)
    assert "AADSTS90002" in str(raised.value)


def test_unknown_client_id_names_ms_client_id(emulator, tls_material):
    with make_client(emulator, tls_material, client_id="someone-else") as c:
        with pytest.raises(AuthError, match="AADSTS700016.*MS_CLIENT_ID"):
            c.submit_url(url="https://phish.example/", category="phishing")


def test_identity_traffic_uses_the_configured_ca_not_the_environment(emulator, tls_material, monkeypatch):
    # requests would take REQUESTS_CA_BUNDLE from the environment over `verify`; our httpx client does not.
    # (The other tests show the converse: this machine sets REQUESTS_CA_BUNDLE to the system bundle, and
    # identity calls still trust the sandbox CA given as `verify`.)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_material.ca_file))
    with make_client(
        emulator, tls_material, verify=True, retry=RetryPolicy(max_attempts=2, base_delay=0.01)
    ) as c:
        with pytest.raises(AuthError) as raised:
            c.submit_url(url="https://phish.example/", category="phishing")
    assert raised.value.retryable is True
    assert "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert "MS_AUTHORITY_HOST" in str(raised.value)


def test_plain_http_authority_is_refused_with_the_setting_named():
    with GraphClient(
        tenant_id="t", client_id="c", client_secret="s" * 20, authority_host="http://127.0.0.1:9"
    ) as c:
        with pytest.raises(AuthError, match="MS_AUTHORITY_HOST must be an https URL"):
            c.get_submission("url", "x")


def test_expired_token_mid_run_is_refreshed_once(client, emulator):
    created = client.submit_url(url="https://phish.example/expiry", category="phishing")
    emulator.expire_tokens()

    again = client.get_submission("url", created["id"])

    assert again["id"] == created["id"]
    assert emulator.token_requests == 2
    statuses = [r.status for r in requests_to(emulator, "GET", SUBMISSIONS)]
    assert statuses == [401, 200]


def test_token_refused_twice_by_graph_is_an_auth_error(client, emulator):
    created = client.submit_url(url="https://phish.example/", category="phishing")
    emulator.fail_next(GET_URL_ROUTE, status=401, times=2)
    with pytest.raises(AuthError) as raised:
        client.get_submission("url", created["id"])
    assert raised.value.status == 401
    assert raised.value.code == "InvalidAuthenticationToken"
    assert len(requests_to(emulator, "GET", SUBMISSIONS)) == 2
    assert emulator.token_requests == 2


def test_token_endpoint_outage_is_retried_with_the_policy(client, emulator, sleeps):
    # Retry-After 0: with a longer one, MSAL itself replays the 503 from its throttle cache until it passes.
    emulator.fail_next(f"POST /{emulator.tenant_id}/oauth2/v2.0/token", status=503, retry_after=0)
    client.submit_url(url="https://phish.example/", category="phishing")
    assert emulator.token_requests == 2
    assert len(sleeps.delays) == 1


def test_token_endpoint_throttle_is_replayed_by_msal_then_surfaces_as_retryable(emulator, tls_material):
    emulator.fail_next(f"POST /{emulator.tenant_id}/oauth2/v2.0/token", status=503, retry_after=30)
    with make_client(emulator, tls_material, retry=RetryPolicy(max_attempts=3, base_delay=0.01)) as c:
        with pytest.raises(AuthError) as raised:
            c.submit_url(url="https://phish.example/", category="phishing")
    assert raised.value.retryable is True
    assert "after 3 attempts" in str(raised.value)
    assert emulator.token_requests == 1  # MSAL answered attempts 2 and 3 from its own throttle cache


# --- submissions ----------------------------------------------------------------------------------------------


def test_submit_email_sends_a_valid_body_whose_file_content_is_the_raw_message(client, emulator):
    created = client.submit_email(raw_mime=RAW_MIME, recipient="alice@contoso.example", category="phishing")

    (post,) = requests_to(emulator, "POST", f"{SUBMISSIONS}/emailThreats")
    assert post.body["@odata.type"] == "#microsoft.graph.security.emailContentThreatSubmission"
    assert post.body["recipientEmailAddress"] == "alice@contoso.example"
    assert post.body["category"] == "phishing"
    assert base64.b64decode(post.body["fileContent"]) == RAW_MIME
    assert post.headers["prefer"] == PREFER
    assert emulator.validation_errors == []
    assert created["id"] in emulator.submissions
    assert created["subject"] == "Verify your account today"
    assert created["internetMessageId"] == "<abc123@contoso-hr.example>"


def test_submissions_created_since_filters_on_creation_time_and_follows_pages(client, emulator):
    old = client.submit_url(url="https://old.example/", category="phishing")
    with emulator._lock:  # made long ago
        emulator._submissions[old["id"]].obj["createdDateTime"] = "2020-01-01T00:00:00.0000000Z"
    made = [client.submit_url(url=f"https://new{i}.example/", category="phishing")["id"] for i in range(3)]
    since = datetime.now(UTC) - timedelta(minutes=1)

    found = client.submissions_created_since("url", since, page_size=2)
    assert [f["id"] for f in found] == made
    first, second = requests_to(emulator, "GET", f"{SUBMISSIONS}/urlThreats")
    assert first.query["$filter"] == second.query["$filter"]
    assert first.query["$filter"].startswith("createdDateTime ge ") and "$skiptoken" in second.query
    assert len(client.submissions_created_since("url", since, page_size=2, max_pages=1)) == 2
    assert client.submissions_created_since("email", since) == []


def test_user_reported_since_asks_for_the_employees_own_submissions_and_says_when_pages_remain(
    client, emulator
):
    from bot.sandbox.user_reports import ReportButton

    button = ReportButton().attach(emulator)
    client.submit_email(
        raw_mime=RAW_MIME, recipient="alice@contoso.example", category="phishing"
    )  # phishbot's
    since = datetime.now(UTC) - timedelta(minutes=1)
    pressed = [button.press(f"user{n}@contoso.example", RAW_MIME) for n in range(3)]

    found, complete = client.user_reported_since(since, page_size=2)
    assert [f["id"] for f in found] == pressed and complete
    first, second = requests_to(emulator, "GET", f"{SUBMISSIONS}/emailThreats")
    assert first.query["$filter"] == f"source eq 'user' and createdDateTime ge {since:%Y-%m-%dT%H:%M:%SZ}"
    assert second.query["$skiptoken"] and second.query["$filter"] == first.query["$filter"]
    assert all(r.headers["prefer"] == PREFER for r in (first, second))
    found, complete = client.user_reported_since(since, page_size=2, max_pages=1)
    assert len(found) == 2 and not complete


def test_review_sends_the_documented_word_for_each_category(client, emulator):
    from bot.sandbox.user_reports import ReportButton

    button = ReportButton().attach(emulator)
    sent = {}
    for category in ("phishing", "malware", "spam", "notJunk"):
        submission_id = button.press("alice@contoso.example", RAW_MIME)
        client.review_submission(submission_id, category)
        sent[category] = emulator.submissions[submission_id]["adminReview"]["reviewResult"]
    assert [word for _, word in button.reviews] == ["phishing", "malware", "junk", "notSpam"]
    assert sent == {"phishing": "phishing", "malware": "malware", "spam": "spam", "notJunk": "notJunk"}
    with pytest.raises(ValueError):
        client.review_submission(submission_id, "junk")
    admin = client.submit_url(url="https://phish.example/", category="phishing")
    with pytest.raises(GraphError) as refused:
        client.review_submission(admin["id"], "phishing")
    assert refused.value.status == 404  # a URL submission is no email submission
    emulator.granted_roles = ("ThreatSubmission.Read.All",)
    with pytest.raises(GraphError) as forbidden:
        client.review_submission(submission_id, "phishing")
    assert forbidden.value.status == 403 and "ThreatSubmission.ReadWrite.All" in str(forbidden.value)


def test_user_reported_settings_are_the_first_policy(client, emulator):
    from bot.sandbox.user_reports import ReportButton

    button = ReportButton(to_microsoft=False).attach(emulator)
    assert client.user_reported_settings()["isReportToMicrosoftEnabled"] is False
    button.to_microsoft = True
    assert client.user_reported_settings()["isReportToMicrosoftEnabled"] is True


def test_submit_email_carries_any_bytes_unchanged(client, emulator):
    # 8-bit bodies, bare LFs, NULs: the submission must carry exactly what was reported.
    raw = RAW_MIME.replace(b"\r\n", b"\n", 2) + bytes(range(256)) * 64
    client.submit_email(raw_mime=raw, recipient="bob@contoso.example", category="phishing")
    (post,) = requests_to(emulator, "POST", f"{SUBMISSIONS}/emailThreats")
    assert base64.b64decode(post.body["fileContent"]) == raw


def test_submit_url_and_file_send_valid_bodies(client, emulator):
    url_submission = client.submit_url(url="https://phish.example/a?b=c", category="phishing")
    file_submission = client.submit_file(
        file_name="invoice.html", content=b"<html>pay</html>", category="malware"
    )

    url_post = requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")[0]
    assert url_post.body == {
        "@odata.type": "#microsoft.graph.security.urlThreatSubmission",
        "category": "phishing",
        "webUrl": "https://phish.example/a?b=c",
    }
    file_post = requests_to(emulator, "POST", f"{SUBMISSIONS}/fileThreats")[0]
    assert file_post.body["@odata.type"] == "#microsoft.graph.security.fileContentThreatSubmission"
    assert file_post.body["fileName"] == "invoice.html"
    assert base64.b64decode(file_post.body["fileContent"]) == b"<html>pay</html>"
    assert emulator.validation_errors == []
    assert {url_submission["id"], file_submission["id"]} <= set(emulator.submissions)
    assert file_submission["result"]["category"] == "malware"


def test_arguments_are_checked_before_any_request(client, emulator):
    with pytest.raises(ValueError, match="category"):
        client.submit_url(url="https://x.example/", category="notSpam")
    with pytest.raises(ValueError):
        client.submit_email(raw_mime=b"", recipient="a@b.example", category="spam")
    with pytest.raises(ValueError, match="kind"):
        client.read_submissions([("teams", "x")])
    assert emulator.requests == []


def test_outer_429_with_retry_after_on_a_submission_is_honoured(client, emulator, sleeps):
    emulator.fail_next(URL_ROUTE, status=429, retry_after=0.3)

    created = client.submit_url(url="https://phish.example/", category="phishing")

    assert created["id"] in emulator.submissions
    assert [r.status for r in requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")] == [429, 201]
    assert sleeps.delays == [0.3]


def test_503_twice_then_success(client, emulator, sleeps):
    emulator.fail_next(URL_ROUTE, status=503, times=2)

    client.submit_url(url="https://phish.example/", category="phishing")

    assert [r.status for r in requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")] == [503, 503, 201]
    assert len(sleeps.delays) == 2
    # exponential backoff with jitter: within [base/2, base] then [base, 2*base]
    assert 0.005 <= sleeps.delays[0] <= 0.01 and 0.01 <= sleeps.delays[1] <= 0.02


def test_permanent_503_gives_up_after_max_attempts(emulator, tls_material, sleeps):
    emulator.fail_next(URL_ROUTE, status=503, times=50)
    policy = RetryPolicy(max_attempts=4, base_delay=0.01)
    with make_client(emulator, tls_material, retry=policy, sleep=sleeps) as c:
        with pytest.raises(GraphError) as raised:
            c.submit_url(url="https://phish.example/", category="phishing")
    emulator.clear_faults()

    error = raised.value
    assert error.retryable is True and error.status == 503
    assert "kept answering 503 for POST /beta/security/threatSubmission/urlThreats after 4 attempts" in str(
        error
    )
    assert len(requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")) == 4
    assert len(sleeps.delays) == 3


def test_timeout_is_retried(emulator, tls_material, sleeps):
    seen: list[tuple[str, int | None]] = []
    with make_client(
        emulator,
        tls_material,
        retry=RetryPolicy(base_delay=0.01, timeout=0.5),
        sleep=sleeps,
        on_request=lambda label, status, seconds: seen.append((label, status)),
    ) as c:
        created = c.submit_url(url="https://phish.example/", category="phishing")
        emulator.fail_next(GET_URL_ROUTE, status=504, delay=2.0)  # answered long after the client gave up
        again = c.get_submission("url", created["id"])
    assert again["id"] == created["id"]
    gets = [status for label, status in seen if label == f"GET {SUBMISSIONS}/urlThreats/{{id}}"]
    assert gets[0] is None and gets[-1] == 200
    assert len(requests_to(emulator, "GET", SUBMISSIONS)) == len(gets) >= 2
    assert len(sleeps.delays) == len(gets) - 1


def test_a_reset_connection_is_retried_with_backoff(client, emulator, sleeps):
    emulator.fail_next(URL_ROUTE, status=503, reset=True, times=2)

    created = client.submit_url(url="https://phish.example/", category="phishing")

    assert created["id"] in emulator.submissions and len(emulator.submissions) == 1
    assert [r.status for r in requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")] == [None, None, 201]
    assert len(sleeps.delays) == 2 and 0.005 <= sleeps.delays[0] <= 0.01 <= sleeps.delays[1] <= 0.02


def test_outer_429_without_retry_after_backs_off_exponentially(client, emulator, sleeps):
    emulator.fail_next(URL_ROUTE, status=429, times=3)

    client.submit_url(url="https://phish.example/", category="phishing")

    assert [r.status for r in requests_to(emulator, "POST", f"{SUBMISSIONS}/urlThreats")] == [
        429,
        429,
        429,
        201,
    ]
    # No Retry-After: the client's own backoff, doubling from 0.01 s with jitter in [half, whole].
    bounds = [(0.005, 0.01), (0.01, 0.02), (0.02, 0.04)]
    assert all(low <= delay <= high for delay, (low, high) in zip(sleeps.delays, bounds, strict=True))


def test_inner_429_without_retry_after_backs_off_and_stays_bounded(emulator, tls_material, sleeps):
    with make_client(
        emulator, tls_material, retry=RetryPolicy(max_attempts=3, base_delay=0.01), sleep=sleeps
    ) as c:
        throttled = c.submit_url(url="https://phish.example/throttled", category="phishing")["id"]
        emulator.fail_next(GET_URL_ROUTE, status=429, in_batch=True, times=50)
        results = c.read_submissions([("url", throttled)])
    emulator.clear_faults()

    error = results[throttled]
    assert isinstance(error, GraphError) and error.retryable and error.status == 429
    assert len(requests_to(emulator, "POST", "/beta/$batch")) == 3  # max_attempts, then given back
    assert len(sleeps.delays) == 2 and 0.005 <= sleeps.delays[0] <= 0.01 <= sleeps.delays[1] <= 0.02


def test_unreachable_graph_is_a_retryable_error(emulator, tls_material):
    policy = RetryPolicy(max_attempts=2, base_delay=0.01)
    with make_client(emulator, tls_material, retry=policy) as c:
        created = c.submit_url(url="https://phish.example/", category="phishing")
        emulator.stop()  # the token stays cached; Graph is gone
        with pytest.raises(GraphError) as raised:
            c.get_submission("url", created["id"])
    assert raised.value.retryable is True
    assert "could not be reached" in str(raised.value) and "after 2 attempts" in str(raised.value)


def test_malformed_json_in_a_2xx_is_a_retryable_error(client, emulator):
    created = client.submit_url(url="https://phish.example/", category="phishing")
    emulator.fail_next(GET_URL_ROUTE, status=200, body=b'{"id": "trunc')
    with pytest.raises(GraphError) as raised:
        client.get_submission("url", created["id"])
    assert raised.value.retryable is True
    assert raised.value.code == "malformedResponse"


def test_permanent_4xx_carries_graphs_code_and_is_not_retried(client, emulator, sleeps):
    emulator.fail_next(URL_ROUTE, status=403)
    with pytest.raises(GraphError) as raised:
        client.submit_url(url="https://phish.example/", category="phishing")
    error = raised.value
    assert (error.status, error.code, error.retryable) == (403, "Forbidden", False)
    assert "ThreatSubmission.ReadWrite.All" in str(error)
    assert "request-id" in str(error)
    assert len(requests_to(emulator, "POST", SUBMISSIONS)) == 1
    assert sleeps.delays == []


def test_get_of_an_unknown_submission_is_404(client):
    with pytest.raises(GraphError) as raised:
        client.get_submission("email", "00000000-0000-0000-0000-000000000000")
    assert (raised.value.status, raised.value.code, raised.value.retryable) == (
        404,
        "ResourceNotFound",
        False,
    )


# --- reading verdicts -------------------------------------------------------------------------------------------


def test_every_read_sends_the_prefer_header(client, emulator):
    email = client.submit_email(raw_mime=RAW_MIME, recipient="alice@contoso.example", category="phishing")
    url = client.submit_url(url="https://phish.example/", category="phishing")
    client.get_submission("email", email["id"])
    client.read_submissions([("email", email["id"]), ("url", url["id"])])

    reads = [r for r in emulator.graph_requests() if r.method == "GET"] + emulator.batch_requests()
    assert len(reads) == 3
    assert all(r.headers.get("prefer") == PREFER for r in reads)
    assert all(r.headers.get("prefer") == PREFER for r in emulator.graph_requests())


def test_unknown_future_value_disappears_with_the_prefer_header(client, emulator, tls_material):
    clean = client.submit_url(url="https://harmless.example/", category="spam")
    drill = client.submit_url(url="https://simulation.example/training", category="phishing")

    # The same read without the header, as a naive client would make it.
    token = emulator.issue_token()
    with httpx.Client(verify=client_context(tls_material.ca_file)) as plain:
        bare = plain.get(
            f"{emulator.base_url}{SUBMISSIONS}/urlThreats/{clean['id']}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
    assert bare["result"]["category"] == "unknownFutureValue"
    assert bare["result"]["detail"] == "unknownFutureValue"

    read = client.get_submission("url", clean["id"])
    assert (read["result"]["category"], read["result"]["detail"]) == ("noThreatsFound", "itemFoundClean")
    # the 201 of the POST is readable too, because submissions send the header as well
    assert clean["result"]["category"] == "noThreatsFound"
    batch = client.read_submissions([("url", drill["id"]), ("url", clean["id"])])
    assert batch[drill["id"]]["result"]["category"] == "phishingSimulation"
    assert batch[clean["id"]]["result"]["detail"] == "itemFoundClean"


def test_45_refs_are_read_in_exactly_3_batches(client, emulator):
    refs = []
    for index in range(15):
        refs.append(
            ("url", client.submit_url(url=f"https://phish.example/{index}", category="phishing")["id"])
        )
        refs.append(
            ("file", client.submit_file(file_name=f"f{index}.txt", content=b"x", category="spam")["id"])
        )
        refs.append(
            (
                "email",
                client.submit_email(
                    raw_mime=RAW_MIME, recipient="alice@contoso.example", category="phishing"
                )["id"],
            )
        )

    results = client.read_submissions(refs)

    batches = requests_to(emulator, "POST", "/beta/$batch")
    assert len(batches) == 3
    assert sorted(len(b.body["requests"]) for b in batches) == [5, 20, 20]
    assert len(emulator.batch_requests()) == 45
    assert set(results) == {submission_id for _, submission_id in refs}
    assert all(isinstance(value, dict) and value["id"] == key for key, value in results.items())
    for kind, submission_id in refs:
        assert results[submission_id]["contentType"] == kind
    assert {r.path.split("/")[4] for r in emulator.batch_requests()} == {
        "urlThreats",
        "fileThreats",
        "emailThreats",
    }


def test_inner_429_is_retried_for_that_id_only_after_its_retry_after(client, emulator, sleeps):
    refs = [
        (
            "email",
            client.submit_email(raw_mime=RAW_MIME, recipient="a@contoso.example", category="spam")["id"],
        )
    ]
    refs += [
        ("url", client.submit_url(url=f"https://phish.example/{i}", category="phishing")["id"])
        for i in range(3)
    ]
    emulator.fail_next(GET_EMAIL_ROUTE, status=429, retry_after=0.2, in_batch=True)

    results = client.read_submissions(refs)

    assert all(isinstance(results[submission_id], dict) for _, submission_id in refs)
    batches = requests_to(emulator, "POST", "/beta/$batch")
    assert [len(b.body["requests"]) for b in batches] == [4, 1]
    assert batches[1].body["requests"][0]["url"].endswith(refs[0][1])
    assert sleeps.delays == [0.2]


def test_inner_503_that_persists_becomes_an_error_for_that_id(emulator, tls_material, sleeps):
    with make_client(
        emulator, tls_material, retry=RetryPolicy(max_attempts=3, base_delay=0.01), sleep=sleeps
    ) as c:
        good = c.submit_url(url="https://phish.example/good", category="phishing")["id"]
        bad = c.submit_email(raw_mime=RAW_MIME, recipient="a@contoso.example", category="phishing")["id"]
        emulator.fail_next(GET_EMAIL_ROUTE, status=503, in_batch=True, times=50)
        results = c.read_submissions([("url", good), ("email", bad)])
    emulator.clear_faults()

    assert isinstance(results[good], dict)
    error = results[bad]
    assert isinstance(error, GraphError)
    assert error.retryable is True and error.status == 503
    assert "after 3 attempts" in str(error)
    batches = requests_to(emulator, "POST", "/beta/$batch")
    assert [len(b.body["requests"]) for b in batches] == [2, 1, 1]
    assert len(sleeps.delays) == 2


def test_inner_404_is_an_error_for_that_id_and_not_raised(client, emulator):
    real = client.submit_url(url="https://phish.example/", category="phishing")["id"]
    missing = "00000000-0000-0000-0000-000000000000"

    results = client.read_submissions([("url", real), ("email", missing)])

    assert isinstance(results[real], dict)
    assert isinstance(results[missing], GraphError)
    assert (results[missing].status, results[missing].code, results[missing].retryable) == (
        404,
        "ResourceNotFound",
        False,
    )
    assert len(requests_to(emulator, "POST", "/beta/$batch")) == 1


def test_outer_batch_throttle_is_retried_with_its_retry_after(client, emulator, sleeps):
    submission_id = client.submit_url(url="https://phish.example/", category="phishing")["id"]
    emulator.fail_next(BATCH_ROUTE, status=429, retry_after=0.1)

    results = client.read_submissions([("url", submission_id)])

    assert isinstance(results[submission_id], dict)
    assert [r.status for r in requests_to(emulator, "POST", "/beta/$batch")] == [429, 200]
    assert sleeps.delays == [0.1]


def test_outer_batch_failure_is_returned_per_id_not_raised(emulator, tls_material):
    with make_client(emulator, tls_material, retry=RetryPolicy(max_attempts=2, base_delay=0.01)) as c:
        ids = [c.submit_url(url=f"https://phish.example/{i}", category="phishing")["id"] for i in range(25)]
        emulator.fail_next(BATCH_ROUTE, status=503, times=50)
        results = c.read_submissions([("url", submission_id) for submission_id in ids])
    emulator.clear_faults()

    assert set(results) == set(ids)
    assert all(isinstance(value, GraphError) and value.retryable for value in results.values())
    # the first chunk failed twice; the second chunk was not sent to a Graph that is down
    assert len(requests_to(emulator, "POST", "/beta/$batch")) == 2


def test_duplicate_refs_are_read_once(client, emulator):
    submission_id = client.submit_url(url="https://phish.example/", category="phishing")["id"]
    results = client.read_submissions([("url", submission_id), ("url", submission_id)])
    assert list(results) == [submission_id]
    assert len(emulator.batch_requests()) == 1


def test_no_refs_no_request(client, emulator):
    assert client.read_submissions([]) == {}
    assert emulator.requests == []


# --- secrets, metrics, policy ---------------------------------------------------------------------------------


def test_no_secret_or_token_reaches_the_logs(client, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    created = client.submit_email(raw_mime=RAW_MIME, recipient="alice@contoso.example", category="phishing")
    emulator.expire_tokens()
    client.read_submissions([("email", created["id"])])

    text = caplog.text
    assert emulator.client_secret not in text
    assert re.search(r"Bearer\s+[\w.~+/=-]{16,}", text) is None
    assert '"access_token": "********"' in text or "access_token" not in text
    assert "Verify your account" not in text and base64.b64encode(RAW_MIME).decode()[:40] not in text
    assert f"POST {SUBMISSIONS}/emailThreats" in text  # DEBUG: method, path, status


def test_on_request_sees_every_http_call_with_a_stable_label(emulator, tls_material):
    seen: list[tuple[str, int | None]] = []
    with make_client(
        emulator, tls_material, on_request=lambda label, status, seconds: seen.append((label, status))
    ) as c:
        created = c.submit_url(url="https://phish.example/", category="phishing")
        c.get_submission("url", created["id"])
        c.read_submissions([("url", created["id"])])
    assert seen == [
        ("GET identity configuration", 200),
        ("POST identity token", 200),
        (f"POST {SUBMISSIONS}/urlThreats", 201),
        (f"GET {SUBMISSIONS}/urlThreats/{{id}}", 200),
        ("POST /beta/$batch", 200),
    ]


def test_a_failing_metrics_callback_does_not_fail_the_call(emulator, tls_material):
    def broken(label, status, seconds):
        raise RuntimeError("metrics backend down")

    with make_client(emulator, tls_material, on_request=broken) as c:
        assert c.submit_url(url="https://phish.example/", category="phishing")["id"]


def test_constructor_does_no_io(emulator, tls_material):
    c = make_client(emulator, tls_material)
    c.close()
    assert emulator.requests == []


def test_retry_policy_delay():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=120.0)
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(1, 3600.0) == 120.0
    assert policy.delay(3, 0.0) == 0.0
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0), (500, 8.0)]:
        delays = [policy.delay(attempt, None) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_parse_retry_after_forms():
    now = datetime(2026, 11, 3, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("10") == 10.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=42), usegmt=True), now=now) == 42.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=42), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("nan") is None
