"""The one Microsoft Graph client: MSAL for the app token, httpx for HTTP, one retry policy, one Prefer
header.

Callers ask for domain things (submit an email, read verdicts) and never build Graph URLs, handle 429s or
see a token. Every Graph request goes through ``GraphClient._send``; the verdict reader's ``$batch`` retries
its throttled inner requests with the same ``RetryPolicy``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import logging
import math
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import msal
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from msal.exceptions import MsalServiceError

logger = logging.getLogger(__name__)

PREFER_UNKNOWN_ENUMS = "include-unknown-enum-members"
BATCH_LIMIT = 20  # "JSON batch requests are currently limited to 20 individual requests"
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
SUBMISSION_CATEGORIES = frozenset({"phishing", "malware", "spam", "notJunk"})

_THREAT_SUBMISSION = "/security/threatSubmission"
_COLLECTIONS = {"email": "emailThreats", "url": "urlThreats", "file": "fileThreats"}
_SUBMIT_PERMISSION = "ThreatSubmission.ReadWrite.All"
_READ_PERMISSION = "ThreatSubmission.Read.All"
_HUNTING_PERMISSION = "ThreatHunting.Read.All"
_REMEDIATE_PERMISSION = "SecurityAnalyzedMessage.ReadWrite.All"
_MAIL_PERMISSION = "Mail.ReadWrite"
MAIL_READ_PERMISSION = "Mail.Read"  # the reporter's own mailbox: recent emails, the original of a forward
_MESSAGE_FIELDS = "id,subject,from,receivedDateTime,internetMessageId,isDraft"
# Graph remediationAction members the bot sends (moveToQuarantine "isn't currently supported").
REMEDIATION_ACTIONS = frozenset(
    {"softDelete", "hardDelete", "moveToJunk", "moveToDeletedItems", "moveToInbox"}
)
# Outlook serves at most four concurrent requests per app and mailbox, $batch included (throttling limits).
OUTLOOK_CONCURRENCY_PER_MAILBOX = 4
PERMANENT_DELETE = "permanentDelete"  # the "destination" that means POST .../permanentDelete
_MAX_TEXT = 300  # Graph and Entra error text is shown to people and logged: keep it short
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")
_AADSTS = re.compile(r"\bAADSTS\d+\b")

# Which setting a person should look at for the Entra errors seen most in practice.
_AADSTS_SETTING = {
    "AADSTS7000215": "MS_CLIENT_SECRET",  # invalid client secret
    "AADSTS7000222": "MS_CLIENT_SECRET",  # client secret expired
    "AADSTS700027": "MS_CLIENT_CERTIFICATE",  # assertion signature / certificate not registered
    "AADSTS700023": "MS_CLIENT_CERTIFICATE",
    "AADSTS700024": "MS_CLIENT_CERTIFICATE",  # assertion not within its valid time range (clock skew)
    "AADSTS700016": "MS_CLIENT_ID",  # application not found in the directory
    "AADSTS90002": "MS_TENANT_ID",  # tenant not found
    "AADSTS900023": "MS_TENANT_ID",  # malformed tenant identifier
    "AADSTS90038": "MS_AUTHORITY_HOST",  # tenant lives in another (national) cloud
    "AADSTS50049": "MS_AUTHORITY_HOST",
    "AADSTS500011": "GRAPH_URL",  # resource (Graph host) not found in this tenant's cloud
    "AADSTS70011": "GRAPH_URL",  # invalid scope
    "AADSTS1002012": "GRAPH_URL",
}


class GraphError(Exception):
    """A Graph call failed. The message is safe for logs and for a person: operation, HTTP status, Graph's
    error code and message. It never holds a token, a secret, a private key or a reported email."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.operation = operation

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r}, code={self.code!r})"


class AuthError(GraphError):
    """No access token could be obtained; the message names the setting to check."""


@dataclass(frozen=True)
class BatchCall:
    """One request inside a ``$batch`` envelope; ``key`` names its answer, ``url`` is relative to the version."""

    key: str
    method: str
    url: str
    body: dict | None = None
    headers: dict[str, str] | None = None
    group: str | None = None  # e.g. the mailbox: see GraphClient.batch(per_group=...)
    operation: str = ""  # for error messages
    not_found: str | None = None  # the sentence for an inner 404, when a 404 means something specific


@dataclass(frozen=True)
class MailboxMessage:
    """One message of a person's mailbox, as listed (no body)."""

    id: str
    subject: str
    sender_name: str
    sender_address: str
    received_at: datetime | None
    internet_message_id: str | None
    is_draft: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    timeout: float = 30.0  # per request

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0 or self.timeout <= 0:
            raise ValueError("RetryPolicy delays must not be negative and the timeout must be positive")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The server's Retry-After wins when given (capped, so a hostile or broken value cannot park a worker
        for hours); otherwise exponential backoff with jitter, so that threads throttled together do not
        come back together.
        """
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * 2 ** min(max(attempt, 1) - 1, 32))
        return backoff * random.uniform(0.5, 1.0)


def parse_retry_after(value: str | int | float | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if unusable."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(float(value), 0.0) if math.isfinite(value) else None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class GraphClient:
    """Microsoft Graph for phishbot. Thread-safe: one instance serves every thread of the bot."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | None = None,
        client_certificate_pem: bytes | None = None,
        authority_host: str = "https://login.microsoftonline.com",
        graph_url: str = "https://graph.microsoft.com",
        verify: ssl.SSLContext | bool = True,
        proxy: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str, int | None, float], None] | None = None,
    ) -> None:
        if not tenant_id or not client_id:
            raise AuthError("MS_TENANT_ID and MS_CLIENT_ID must both be set")
        if bool(client_secret) == bool(client_certificate_pem):
            raise AuthError("set exactly one of MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE")
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._graph_url = graph_url.rstrip("/")
        self._scopes = [f"{self._graph_url}/.default"]
        self._credential_setting = "MS_CLIENT_SECRET" if client_secret else "MS_CLIENT_CERTIFICATE"
        # Parsing the PEM is CPU only, and doing it here turns a bad file into a start-up error.
        self._credential = _Credential(
            client_secret if client_secret else _certificate_credential(client_certificate_pem or b"")
        )
        self._retry = retry
        self._sleep = sleep
        self._on_request = on_request
        self._verify = verify
        self._proxy = proxy
        self._http = self._build_http()
        self._app: Any = None  # msal.ConfidentialClientApplication, built on first use
        self._identity_http: _IdentityHttp | None = None
        self._app_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token_digest: str | None = None  # which token is current, without keeping a second copy of it

    # ----------------------------------------------------------------------------------------- submissions

    def submit_email(
        self,
        *,
        raw_mime: bytes,
        recipient: str,
        category: str,
        block_until: datetime | None = None,
        block_note: str | None = None,
    ) -> dict:
        """Submit raw RFC 822 bytes as an emailContentThreatSubmission; returns the created submission.

        With `block_until`, the submission also asks Microsoft to put what it finds bad in the message (sender,
        URLs, files) on the Tenant Allow/Block List until then (`tenantAllowOrBlockListAction`, beta)."""
        if not raw_mime:
            raise ValueError("raw_mime is empty")
        if not recipient or not recipient.strip():
            raise ValueError("recipient is required (the reporter's mailbox address)")
        body = {
            "@odata.type": "#microsoft.graph.security.emailContentThreatSubmission",
            "category": _category(category),
            "recipientEmailAddress": recipient.strip(),
            "fileContent": base64.b64encode(raw_mime).decode("ascii"),
        }
        if block_until is not None:
            body["tenantAllowOrBlockListAction"] = {
                "action": "block",
                "expirationDateTime": block_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "note": (block_note or "")[: _MAX_TEXT * 3],
            }
        return self._submit("email", body)

    def submit_url(self, *, url: str, category: str) -> dict:
        if not url or not url.strip():
            raise ValueError("url is empty")
        body = {
            "@odata.type": "#microsoft.graph.security.urlThreatSubmission",
            "category": _category(category),
            "webUrl": url.strip(),
        }
        return self._submit("url", body)

    def submit_file(self, *, file_name: str, content: bytes, category: str) -> dict:
        if not file_name or not content:
            raise ValueError("file_name and content are required")
        body = {
            "@odata.type": "#microsoft.graph.security.fileContentThreatSubmission",
            "category": _category(category),
            "fileName": file_name,
            "fileContent": base64.b64encode(content).decode("ascii"),
        }
        return self._submit("file", body)

    def _submit(self, kind: str, body: dict) -> dict:
        path = f"/beta{_THREAT_SUBMISSION}/{_COLLECTIONS[kind]}"
        return self._send("POST", path, json=body, label=f"POST {path}", permission=_SUBMIT_PERMISSION)

    # -------------------------------------------------------------------------------------------- verdicts

    def get_submission(self, kind: str, submission_id: str) -> dict:
        collection = _collection(kind)
        path = f"/beta{_THREAT_SUBMISSION}/{collection}/{_segment(submission_id)}"
        label = f"GET /beta{_THREAT_SUBMISSION}/{collection}/{{id}}"
        return self._send("GET", path, label=label, permission=_READ_PERMISSION)

    def submissions_created_since(
        self, kind: str, since: datetime, *, max_pages: int = 5, page_size: int = 100
    ) -> list[dict]:
        """Submissions of `kind` created at or after `since` (the documented `createdDateTime ge` filter), at most
        `max_pages` pages: where to look for what a send whose answer never arrived may have created."""
        path = f"/beta{_THREAT_SUBMISSION}/{_collection(kind)}"
        params = {
            "$filter": f"createdDateTime ge {since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "$top": str(page_size),
        }
        found: list[dict] = []
        for _ in range(max_pages):
            page = self._send("GET", path, label=f"GET {path}", permission=_READ_PERMISSION, params=params)
            found.extend(item for item in page.get("value") or [] if isinstance(item, dict))
            # Only the paging token is taken from nextLink: the next request goes to our Graph, whatever it names.
            link = page.get("@odata.nextLink")
            tokens = parse_qs(urlsplit(link).query).get("$skiptoken") if isinstance(link, str) else None
            if not tokens:
                break
            params = {**params, "$skiptoken": tokens[0]}
        return found

    def read_submissions(self, refs: Sequence[tuple[str, str]]) -> dict[str, dict | GraphError]:
        """Read many submissions with ``POST /beta/$batch``, at most 20 per request.

        Returns one entry per submission id: the submission object, or a GraphError for that id (404, a
        permanent inner error, or an inner 429/5xx still failing after the retry policy's attempts). Only
        throttled ids are sent again, after the longest inner Retry-After of the round. When a ``$batch``
        request itself fails after its retries, every id not yet read gets that error and no further batch
        is sent (Graph is unwell; the next check round will try again). AuthError is raised, not returned.
        """
        calls: dict[str, BatchCall] = {}
        for kind, submission_id in refs:
            collection = _collection(kind)
            calls.setdefault(
                submission_id,
                BatchCall(
                    key=submission_id,
                    method="GET",
                    url=f"{_THREAT_SUBMISSION}/{collection}/{_segment(submission_id)}",
                    headers={"Prefer": PREFER_UNKNOWN_ENUMS},
                    operation=f"GET submission {submission_id} in $batch",
                    not_found=f"Microsoft Graph has no submission {submission_id} (404)",
                ),
            )
        return self.batch(list(calls.values()), version="beta", permission=_READ_PERMISSION)

    # ------------------------------------------------------------------------------------------ JSON batching

    def batch(
        self,
        calls: Sequence[BatchCall],
        *,
        version: str = "v1.0",
        permission: str | None = None,
        per_group: int | None = None,
    ) -> dict[str, dict | GraphError]:
        """Send many Graph requests in ``POST /{version}/$batch`` envelopes of at most 20, one envelope at a time.

        Returns one entry per call key: the inner answer's JSON object (``{}`` for 204), or a GraphError for
        that call. Inner 429/5xx answers are sent again (only those, after the longest inner Retry-After of
        the round) until the retry policy's attempts are spent. A failing envelope (after `_send`'s retries)
        gives its error to every call not yet answered and stops. AuthError is raised, not returned.
        ``per_group`` caps how many calls of one ``group`` share an envelope: Outlook runs at most four
        requests per mailbox at once, and envelopes are sent one after another, so that is also the most in
        flight per mailbox.
        """
        results: dict[str, dict | GraphError] = {}
        pending = list({call.key: call for call in calls}.values())
        attempt = 0
        while pending:
            attempt += 1
            again: list[BatchCall] = []
            retry_afters: list[float] = []
            for chunk in _batch_chunks(pending, per_group):
                try:
                    answers = self._batch_round(chunk, version, permission)
                except AuthError:
                    raise
                except GraphError as failure:
                    for call in pending:
                        results.setdefault(call.key, failure)
                    return results
                for call in chunk:
                    outcome = answers[call.key]
                    if isinstance(outcome, GraphError) and outcome.retryable:
                        if attempt < self._retry.max_attempts:
                            again.append(call)
                            if outcome.retry_after is not None:
                                retry_afters.append(outcome.retry_after)
                            continue
                        outcome = GraphError(
                            f"{outcome} after {attempt} attempts",
                            status=outcome.status,
                            code=outcome.code,
                            retryable=True,
                            retry_after=outcome.retry_after,
                            operation=outcome.operation,
                        )
                    results[call.key] = outcome
            if again:
                pause = self._retry.delay(attempt, max(retry_afters) if retry_afters else None)
                logger.debug("graph $batch: %d throttled requests again in %.2fs", len(again), pause)
                self._sleep(pause)
            pending = again
        return results

    def _batch_round(
        self, chunk: Sequence[BatchCall], version: str, permission: str | None
    ) -> dict[str, dict | GraphError]:
        by_request_id: dict[str, BatchCall] = {}
        requests = []
        for index, call in enumerate(chunk, start=1):
            request_id = str(index)
            by_request_id[request_id] = call
            request: dict[str, Any] = {"id": request_id, "method": call.method, "url": call.url}
            headers = dict(call.headers or {})
            if call.body is not None:
                headers.setdefault("Content-Type", "application/json")
                request["body"] = call.body
            if headers:
                request["headers"] = headers
            requests.append(request)
        label = f"POST /{version}/$batch"
        envelope = self._send(
            "POST", f"/{version}/$batch", json={"requests": requests}, label=label, permission=permission
        )
        responses = envelope.get("responses")
        if not isinstance(responses, list):
            raise GraphError(
                f"Microsoft Graph answered {label} without a 'responses' list",
                retryable=True,
                operation=label,
            )
        answers: dict[str, dict | GraphError] = {}
        for inner in responses:
            if not isinstance(inner, dict) or str(inner.get("id")) not in by_request_id:
                continue
            call = by_request_id[str(inner.get("id"))]
            answers[call.key] = _inner_outcome(inner, call, permission)
        for call in by_request_id.values():
            answers.setdefault(
                call.key,
                GraphError(
                    f"Microsoft Graph's $batch answer had no response for {call.operation or call.key}",
                    retryable=True,
                    operation=label,
                ),
            )
        return answers

    # ------------------------------------------------------------------------------------- advanced hunting

    def run_hunting_query(self, query: str, *, timespan: str | None = None) -> list[dict]:
        """Run a KQL query (built by bot.microsoft.hunting, every value escaped there) and return its result rows."""
        if not query or not query.strip():
            raise ValueError("query is empty")
        body: dict[str, Any] = {"Query": query}
        if timespan:
            body["Timespan"] = timespan
        path = "/v1.0/security/runHuntingQuery"
        answer = self._send("POST", path, json=body, label=f"POST {path}", permission=_HUNTING_PERMISSION)
        rows = answer.get("results")
        if not isinstance(rows, list):
            raise GraphError(
                f"Microsoft Graph answered POST {path} without a 'results' list",
                code="malformedResponse",
                retryable=True,
                operation=f"POST {path}",
            )
        return [row for row in rows if isinstance(row, dict)]

    # ---------------------------------------------------------------------------------- Defender remediation

    def remediate(
        self,
        *,
        action: str,
        pairs: Sequence[tuple[str, str]],
        display_name: str,
        description: str,
        severity: str = "high",
    ) -> str | None:
        """Ask Defender to act on (NetworkMessageId, recipient) pairs; returns the Action center link
        (``Location``) Microsoft answers the 202 with, if any. The caller splits to Microsoft's limits."""
        if action not in REMEDIATION_ACTIONS:
            raise ValueError(f"action must be one of {sorted(REMEDIATION_ACTIONS)}, not {action!r}")
        if not pairs:
            raise ValueError("no messages to remediate")
        body = {
            "displayName": display_name[:_MAX_TEXT],
            "description": description[:_MAX_TEXT],
            "severity": severity,
            "action": action,
            "remediateSendersCopy": False,
            "analyzedEmails": [
                {"networkMessageId": network_message_id, "recipientEmailAddress": recipient}
                for network_message_id, recipient in pairs
            ],
        }
        path = "/v1.0/security/collaboration/analyzedEmails/remediate"
        headers: dict[str, str] = {}
        self._send(
            "POST",
            path,
            json=body,
            label=f"POST {path}",
            permission=_REMEDIATE_PERMISSION,
            response_headers=headers,
        )
        return headers.get("location")

    # ------------------------------------------------------------------------------------------ mailbox API

    def find_mailbox_messages(
        self, wanted: Sequence[tuple[str, str, str]]
    ) -> dict[str, list[dict] | GraphError]:
        """For each (key, mailbox, Internet-Message-ID): the messages with that id in the mailbox (whole mailbox,
        Deleted Items included), in ``$batch`` envelopes with at most four requests per mailbox."""
        calls = []
        for key, mailbox, internet_message_id in wanted:
            query = f"$filter={quote('internetMessageId eq ' + odata_string(internet_message_id), safe='')}"
            query += "&$select=id,internetMessageId,parentFolderId"
            calls.append(
                BatchCall(
                    key=key,
                    method="GET",
                    url=f"/users/{_mailbox(mailbox)}/messages?{query}",
                    group=mailbox.lower(),
                    operation=f"GET messages of {_short(mailbox)} in $batch",
                )
            )
        answers = self.batch(calls, permission=_MAIL_PERMISSION, per_group=OUTLOOK_CONCURRENCY_PER_MAILBOX)
        found: dict[str, list[dict] | GraphError] = {}
        for key, answer in answers.items():
            if isinstance(answer, GraphError):
                found[key] = answer
            else:
                found[key] = [m for m in answer.get("value") or [] if isinstance(m, dict) and m.get("id")]
        return found

    def act_on_mailbox_messages(
        self, actions: Sequence[tuple[str, str, str, str]]
    ) -> dict[str, dict | GraphError]:
        """For each (key, mailbox, message id, destination): move the message to a well-known folder
        (``deleteditems``, ``junkemail``, ``recoverableitemsdeletions``, ``inbox``), or permanently delete it
        when the destination is ``PERMANENT_DELETE``. A move answers the moved message (with its new id)."""
        calls = []
        for key, mailbox, message_id, destination in actions:
            base = f"/users/{_mailbox(mailbox)}/messages/{_segment(message_id)}"
            if destination == PERMANENT_DELETE:
                calls.append(
                    BatchCall(
                        key=key,
                        method="POST",
                        url=f"{base}/permanentDelete",
                        group=mailbox.lower(),
                        operation=f"POST permanentDelete in {_short(mailbox)} in $batch",
                    )
                )
            else:
                calls.append(
                    BatchCall(
                        key=key,
                        method="POST",
                        url=f"{base}/move",
                        body={"destinationId": destination},
                        group=mailbox.lower(),
                        operation=f"POST move to {destination} in {_short(mailbox)} in $batch",
                    )
                )
        return self.batch(calls, permission=_MAIL_PERMISSION, per_group=OUTLOOK_CONCURRENCY_PER_MAILBOX)

    # ------------------------------------------------------------------------------ the reporter's mailbox

    def recent_messages(self, mailbox: str, *, count: int = 15) -> list[MailboxMessage]:
        """The newest messages the person received (drafts and what they sent themselves left out)."""
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages"
        answer = self._send(
            "GET",
            path,
            params={
                "$top": str(min(max(count, 1) * 2, 50)),
                "$orderby": "receivedDateTime desc",
                "$select": _MESSAGE_FIELDS,
            },
            label="GET /v1.0/users/{id}/messages",
            permission=MAIL_READ_PERMISSION,
        )
        own = mailbox.strip().lower()
        found = [
            message
            for message in _mailbox_messages(answer)
            if not message.is_draft and message.sender_address.lower() != own
        ]
        return found[:count]

    def search_messages(
        self,
        mailbox: str,
        *,
        received_after: datetime,
        received_before: datetime,
        subject: str | None = None,
        sender: str | None = None,
        count: int = 10,
    ) -> list[MailboxMessage]:
        """Messages in the mailbox received in the interval, with exactly this subject and/or sender."""
        clauses = [
            f"receivedDateTime ge {_odata_datetime(received_after)}",
            f"receivedDateTime le {_odata_datetime(received_before)}",
        ]
        if subject:
            clauses.append(f"subject eq {odata_string(subject)}")
        if sender:
            clauses.append(f"from/emailAddress/address eq {odata_string(sender)}")
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages"
        answer = self._send(
            "GET",
            path,
            params={
                "$filter": " and ".join(clauses),
                "$top": str(min(max(count, 1), 50)),
                "$select": _MESSAGE_FIELDS,
            },
            label="GET /v1.0/users/{id}/messages",
            permission=MAIL_READ_PERMISSION,
        )
        return _mailbox_messages(answer)

    def message_mime(self, mailbox: str, message_id: str, *, max_bytes: int) -> bytes:
        """The message as Exchange holds it, in MIME (``$value``): what a threat submission takes."""
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages/{_segment(message_id)}/$value"
        received: list[bytes] = []
        self._send(
            "GET",
            path,
            headers={"Accept": "*/*"},
            label="GET /v1.0/users/{id}/messages/{id}/$value",
            permission=MAIL_READ_PERMISSION,
            raw_content=received,
        )
        content = received[0] if received else b""
        if len(content) > max_bytes:
            raise GraphError(
                f"the message in the mailbox is larger than {max_bytes // (1024 * 1024)} MB",
                code="messageTooLarge",
                operation="GET message $value",
            )
        return content

    # ------------------------------------------------------------------------------ diagnostics (doctor)

    def granted_roles(self) -> frozenset[str]:
        """The application permissions admin consent granted: the `roles` claim of the current access token.

        Read without checking the token's signature — a diagnostic; Graph checks the token on every call. Raises
        AuthError when no token can be obtained. The token itself never leaves this client."""
        return frozenset(_token_roles(self._access_token()))

    def probe(self) -> None:
        """One small Graph read (a page of one email submission); raises GraphError when it fails."""
        path = f"/beta{_THREAT_SUBMISSION}/emailThreats"
        self._send("GET", path, params={"$top": "1"}, label=f"GET {path}", permission=_READ_PERMISSION)

    # -------------------------------------------------------------------------------------------- plumbing

    def close(self) -> None:
        self._http.close()
        if self._identity_http is not None:
            self._identity_http.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _build_http(self) -> httpx.Client:
        # trust_env stays on so HTTPS_PROXY / NO_PROXY (and SSL_CERT_FILE when verify is True) apply as for
        # any other outbound HTTPS; MSAL gets a client built the same way, so one CA setting serves both.
        return httpx.Client(
            verify=self._verify,
            proxy=self._proxy,
            timeout=httpx.Timeout(self._retry.timeout),
            follow_redirects=False,
            headers={"User-Agent": "phishbot"},
        )

    def _send(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        *,
        label: str,
        permission: str | None = None,
        response_headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        raw_content: list[bytes] | None = None,
    ) -> dict:
        """One Graph request under the retry policy; returns the JSON object of the 2xx answer.

        ``response_headers``, when given, receives the 2xx answer's headers (lower-case names): a 202's
        ``Location`` is the only thing some Graph actions answer with. ``params`` is the query string (kept
        out of error messages and logs: OData filters carry reporters' addresses and attackers' subjects).
        ``raw_content``, when given, receives the 2xx answer's bytes instead (``$value``), and {} is returned."""
        url = self._graph_url + path
        operation = f"{method} {path}"
        content = None
        request_headers = {"Accept": "application/json", "Prefer": PREFER_UNKNOWN_ENUMS}
        if json is not None:
            # Serialized once: a 25 MB report must not be re-encoded on every retry.
            content = _json_bytes(json)
            request_headers["Content-Type"] = "application/json"
        request_headers.update(headers or {})
        attempt = 0
        token_renewed = False
        while True:
            attempt += 1
            token = self._access_token()
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers={**request_headers, "Authorization": f"Bearer {token}"},
                )
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                self._report(label, None, time.monotonic() - started)
                logger.debug("graph %s -> %s", operation, type(exc).__name__)
                if attempt >= self._retry.max_attempts:
                    raise GraphError(
                        f"Microsoft Graph could not be reached for {operation} after {attempt} attempts: "
                        f"{_describe_transport_error(exc, self._retry.timeout)}",
                        retryable=True,
                        operation=operation,
                    ) from None
                self._sleep(self._retry.delay(attempt, None))
                continue
            status = response.status_code
            self._report(label, status, time.monotonic() - started)
            logger.debug("graph %s -> %d", operation, status)
            if 200 <= status < 300:
                if response_headers is not None:
                    response_headers.update({k.lower(): v for k, v in response.headers.items()})
                if raw_content is not None:
                    raw_content.append(response.content)
                    return {}
                return _json_object(response, operation)
            if status == 401 and not token_renewed:
                # Graph rejected a token MSAL still thought valid (revoked, clock skew, emulator reset): fetch
                # a fresh one once. Not counted as an attempt: nothing is wrong with Graph.
                token_renewed = True
                attempt -= 1
                self._forget_token(token)
                continue
            code, message = _graph_error(response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status in RETRYABLE_STATUSES:
                if attempt >= self._retry.max_attempts:
                    raise GraphError(
                        f"Microsoft Graph kept answering {status} for {operation} after {attempt} attempts"
                        + _detail(code, message, response),
                        status=status,
                        code=code,
                        retryable=True,
                        retry_after=retry_after,
                        operation=operation,
                    )
                self._sleep(self._retry.delay(attempt, retry_after))
                continue
            raise _permanent_error(status, code, message, response, operation, permission)

    def _report(self, label: str, status: int | None, seconds: float) -> None:
        if self._on_request is None:
            return
        try:
            self._on_request(label, status, seconds)
        except Exception:  # a metrics callback must never fail a Graph call
            logger.exception("on_request callback failed")

    # ----------------------------------------------------------------------------------------------- token

    def _access_token(self) -> str:
        with self._token_lock:
            # Serialized so that threads starting together make one token request, not one each.
            app = self._msal_app()

            def attempt_once() -> tuple[str | None, str | None]:
                try:
                    result = app.acquire_token_for_client(scopes=self._scopes)
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                    return None, _describe_transport_error(exc, self._retry.timeout)
                except json.JSONDecodeError:
                    return None, "the token endpoint's answer is not JSON"
                except ValueError as exc:
                    raise self._auth_error_from_exception(exc) from None
                except (MsalServiceError, RuntimeError) as exc:  # MSAL's way of saying "HTTP 5xx"
                    return None, _short(str(exc)) or type(exc).__name__
                if "access_token" in result:
                    token = str(result["access_token"])
                    self._token_digest = _digest(token)
                    return token, None
                if result.get("error") != "temporarily_unavailable":
                    raise self._auth_error_from_result(result)
                return None, "the identity service is temporarily unavailable"

            return self._with_identity_retries(
                attempt_once,
                f"could not obtain a Microsoft Graph token from {self._authority}",
                "check MS_AUTHORITY_HOST and the network path to it",
            )

    def _with_identity_retries(
        self, attempt_once: Callable[[], tuple[Any, str | None]], failure: str, hint: str
    ) -> Any:
        """The identity side of the retry policy: `attempt_once` returns (value, None), or (None, a passing
        problem) to be retried with the policy's back-off, or raises for a permanent one."""
        attempt = 0
        while True:
            attempt += 1
            value, problem = attempt_once()
            if problem is None:
                return value
            if attempt >= self._retry.max_attempts:
                raise AuthError(
                    f"{failure} after {attempt} attempts: {problem} ({hint})",
                    retryable=True,
                    operation="token",
                )
            self._sleep(self._retry.delay(attempt, None))

    def _forget_token(self, rejected: str) -> None:
        with self._token_lock:
            # Another thread may have replaced the token already; dropping its fresh one would cost a request.
            if self._app is not None and self._token_digest == _digest(rejected):
                self._app.remove_tokens_for_client()
                self._token_digest = None

    def _msal_app(self) -> Any:
        with self._app_lock:
            if self._app is not None:
                return self._app
            if self._identity_http is None:
                self._identity_http = _IdentityHttp(self._build_http(), self._report, self._retry.timeout)

            def attempt_once() -> tuple[Any, str | None]:
                try:
                    # The constructor reads the tenant's OpenID configuration, hence no MSAL in __init__.
                    app = msal.ConfidentialClientApplication(
                        self._client_id,
                        client_credential=self._credential.value,
                        authority=self._authority,
                        # MS_AUTHORITY_HOST is trusted configuration: national clouds and test identity
                        # servers work without asking the public cloud's discovery endpoint about them.
                        instance_discovery=False,
                        http_client=self._identity_http,
                    )
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                    return None, _describe_transport_error(exc, self._retry.timeout)
                except ValueError as exc:
                    if isinstance(exc, json.JSONDecodeError):
                        return None, "its OpenID configuration is not JSON"
                    raise self._auth_error_from_exception(exc) from None
                except (MsalServiceError, RuntimeError) as exc:  # 5xx during discovery
                    return None, _short(str(exc)) or type(exc).__name__
                return app, None

            self._app = self._with_identity_retries(
                attempt_once,
                f"could not read the identity configuration of {self._authority}",
                "check MS_AUTHORITY_HOST and MS_TENANT_ID",
            )
            return self._app

    def _auth_error_from_result(self, result: dict) -> AuthError:
        error = _short(str(result.get("error") or "unknown_error"))
        raw_description = str(result.get("error_description") or "")
        description = self._credential.scrub(raw_description)
        aadsts = _AADSTS.search(raw_description)
        code = aadsts.group(0) if aadsts else None
        setting = _AADSTS_SETTING.get(code or "")
        if setting is None:
            setting = {
                "invalid_client": f"{self._credential_setting} and MS_CLIENT_ID",
                "unauthorized_client": "MS_CLIENT_ID and MS_TENANT_ID",
                "invalid_scope": "GRAPH_URL",
                "invalid_resource": "GRAPH_URL",
            }.get(error, f"MS_TENANT_ID, MS_CLIENT_ID and {self._credential_setting}")
        first_line = _short(description.splitlines()[0] if description else "")
        if code and first_line.startswith(code):
            first_line = first_line[len(code) :].lstrip(": ")
        reason = f"{error} {code}" if code else error
        return AuthError(
            f"Microsoft Entra refused the token request for client {self._client_id} in tenant "
            f"{self._tenant_id}: {reason}"
            + (f" ({first_line})" if first_line else "")
            + f"; check {setting}",
            code=code or error,
            retryable=False,
            operation="token",
        )

    def _auth_error_from_exception(self, exc: ValueError) -> AuthError:
        # MSAL re-raises a failed discovery as a generic ValueError; the status and AADSTS code are in the
        # exception it was handling.
        raw = f"{exc} {exc.__context__ or ''}"
        text = self._credential.scrub(raw)
        aadsts = _AADSTS.search(raw)
        if "https url" in raw:
            return AuthError(
                f"MS_AUTHORITY_HOST must be an https URL; MSAL refused the authority {self._authority}",
                operation="token",
            )
        if "OIDC Discovery failed" in raw or "authority configuration" in raw or aadsts:
            status = re.search(r"HTTP status: (\d{3})", text)
            return AuthError(
                f"the identity service has no OpenID configuration for {self._authority}"
                + (f" (HTTP {status.group(1)})" if status else "")
                + (f" {aadsts.group(0)}" if aadsts else "")
                + "; check MS_TENANT_ID and MS_AUTHORITY_HOST",
                status=int(status.group(1)) if status else None,
                code=aadsts.group(0) if aadsts else None,
                operation="token",
            )
        return AuthError(
            f"MSAL could not use the configured credential: {_short(self._credential.scrub(str(exc)))}; "
            f"check {self._credential_setting}",
            operation="token",
        )


class _Credential:
    """Holds the secret or the certificate dict so that no repr, log line or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str | dict[str, str]) -> None:
        self._value = value

    @property
    def value(self) -> str | dict[str, str]:
        return self._value

    def scrub(self, text: str) -> str:
        secrets = [self._value] if isinstance(self._value, str) else list(self._value.values())
        for secret in secrets:
            if len(secret) >= 6:
                text = text.replace(secret, "[redacted]")
            elif secret and secret in text:
                # Replacing a secret of a few characters would garble the text and still hint at the secret.
                return "[details withheld]"
        return text

    def __repr__(self) -> str:
        return "_Credential([redacted])"


class _IdentityHttp:
    """MSAL's http_client contract (msal/oauth2cli/http.py: post/get returning status_code, text, headers)
    on an httpx client. Not requests: with requests, REQUESTS_CA_BUNDLE in the environment silently wins
    over the CA we configure. MSAL leaves retries to its http_client; the token path retries in
    GraphClient._access_token with the same policy as Graph calls."""

    def __init__(
        self, client: httpx.Client, report: Callable[[str, int | None, float], None], timeout: float
    ) -> None:
        self._client = client
        self._report = report
        self._timeout = timeout

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        if isinstance(data, str | bytes):
            payload: dict[str, Any] = {"content": data.encode() if isinstance(data, str) else data}
        else:
            payload = {"data": _requests_style_form(data)}
        return self._request(
            "POST",
            url,
            params=_requests_style_form(params),
            headers=headers,
            label="POST identity token",
            timeout=kwargs.get("timeout"),
            **payload,
        )

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any) -> Any:
        return self._request(
            "GET",
            url,
            params=_requests_style_form(params),
            headers=headers,
            label="GET identity configuration",
            timeout=kwargs.get("timeout"),
        )

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, url: str, *, label: str, timeout: Any, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        try:
            response = self._client.request(method, url, timeout=timeout or self._timeout, **kwargs)
        except httpx.TransportError:
            self._report(label, None, time.monotonic() - started)
            logger.debug("identity %s %s -> network error", method, urlsplit(url).path)
            raise
        self._report(label, response.status_code, time.monotonic() - started)
        logger.debug("identity %s %s -> %d", method, urlsplit(url).path, response.status_code)
        return response


# ---------------------------------------------------------------------------------------------------- helpers


def _token_roles(token: str) -> list[str]:
    """The `roles` claim of a JWT access token, or [] when the token is not a readable JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return []
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return []
    roles = payload.get("roles") if isinstance(payload, dict) else None
    return [str(r) for r in roles if isinstance(r, str)] if isinstance(roles, list) else []


def _requests_style_form(fields: Any) -> Any:
    """Form fields as requests would encode them, which is what MSAL is written against.

    MSAL hands over the signed client assertion as bytes; httpx would send ``str(b"...")``, the
    repr, and Entra would answer invalid_client. requests also drops fields whose value is None.
    """
    if not isinstance(fields, dict):
        return fields
    return {
        key: value.decode("utf-8") if isinstance(value, bytes) else value
        for key, value in fields.items()
        if value is not None
    }


def _certificate_credential(pem: bytes) -> dict[str, str]:
    """The MSAL credential dict for a PEM holding a private key and its certificate (MS_CLIENT_CERTIFICATE).

    We pass ``public_certificate`` and no ``thumbprint``: MSAL 1.39's docstring deprecates the PEM +
    SHA-1 thumbprint form (ADFS only), and since 1.35 a PEM certificate without thumbprint makes MSAL sign
    with PS256 and an SHA-256 thumbprint (``x5t#S256``), the same as its recommended PFX form; the
    certificate also travels as ``x5c``, which Subject Name/Issuer registrations need and others ignore.
    """
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise AuthError(
            "the private key in MS_CLIENT_CERTIFICATE is encrypted; store it unencrypted (file permissions "
            "protect it) or use MS_CLIENT_SECRET"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise AuthError("MS_CLIENT_CERTIFICATE holds no readable PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(
            "the private key in MS_CLIENT_CERTIFICATE must be RSA (Entra certificate credentials)"
        )
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise AuthError("MS_CLIENT_CERTIFICATE holds no PEM certificate next to its private key") from None
    public_numbers = key.public_key().public_numbers()
    leaf = next(
        (
            cert
            for cert in certificates
            if isinstance(cert.public_key(), rsa.RSAPublicKey)
            and cert.public_key().public_numbers() == public_numbers
        ),
        None,
    )
    if leaf is None:
        raise AuthError("no certificate in MS_CLIENT_CERTIFICATE matches its private key")
    return {
        "private_key": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode("ascii"),
        # Only the leaf: MSAL puts every certificate it finds into x5c, and a chain in the wrong order is
        # refused by Entra with AADSTS700027.
        "public_certificate": leaf.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def _category(category: str) -> str:
    value = str(category)
    if value not in SUBMISSION_CATEGORIES:
        raise ValueError(f"category must be one of {sorted(SUBMISSION_CATEGORIES)}, not {value!r}")
    return value


def _collection(kind: str) -> str:
    try:
        return _COLLECTIONS[kind]
    except KeyError:
        raise ValueError(f"submission kind must be one of {sorted(_COLLECTIONS)}, not {kind!r}") from None


def _segment(submission_id: str) -> str:
    if not submission_id:
        raise ValueError("submission id is empty")
    # Ids come back from our store; encoding keeps a damaged one from turning into another Graph path.
    return quote(str(submission_id), safe="")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_object(response: httpx.Response, operation: str) -> dict:
    if not response.content:
        return {}
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise GraphError(
            f"Microsoft Graph answered {operation} with {response.status_code}, but not with a JSON object",
            status=response.status_code,
            code="malformedResponse",
            retryable=True,
            operation=operation,
        )
    return value


def _graph_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    return _error_fields(body)


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    return (_short(str(code)) if code else None, _short(str(message)) if message else None)


def _detail(code: str | None, message: str | None, response: httpx.Response | None = None) -> str:
    parts = [part for part in (code, message) if part]
    text = f" ({': '.join(parts)})" if parts else ""
    request_id = response.headers.get("request-id") if response is not None else None
    if request_id:
        text += f" [request-id {_short(request_id)}]"
    return text


def _permanent_error(
    status: int,
    code: str | None,
    message: str | None,
    response: httpx.Response,
    operation: str,
    permission: str | None,
) -> GraphError:
    reason = response.reason_phrase or ""
    text = f"Microsoft Graph refused {operation}: {status} {reason}".rstrip() + _detail(
        code, message, response
    )
    if status == 401:
        return AuthError(
            text
            + "; a fresh token was refused too: check GRAPH_URL and MS_AUTHORITY_HOST are the same cloud",
            status=status,
            code=code,
            operation=operation,
        )
    if status == 403 and permission:
        text += f"; the app registration needs the application permission {permission} with admin consent"
    return GraphError(text, status=status, code=code, retryable=False, operation=operation)


def _inner_outcome(inner: dict, call: BatchCall, permission: str | None) -> dict | GraphError:
    operation = call.operation or f"{call.method} {call.url.split('?', 1)[0]} in $batch"
    try:
        status = int(inner.get("status"))
    except (TypeError, ValueError):
        return GraphError(
            f"Microsoft Graph's $batch answer for {operation} has no status",
            retryable=True,
            operation=operation,
        )
    body = inner.get("body")
    if 200 <= status < 300:
        if isinstance(body, dict):
            return body
        if body is None or body == "":
            return {}  # 202/204: nothing to say but success
        return GraphError(
            f"Microsoft Graph answered {operation} with {status} but the body is not a JSON object",
            status=status,
            code="malformedResponse",
            retryable=True,
            operation=operation,
        )
    headers = inner.get("headers") if isinstance(inner.get("headers"), dict) else {}
    retry_after = parse_retry_after(
        next((value for name, value in headers.items() if str(name).lower() == "retry-after"), None)
    )
    code, message = _error_fields(body)
    retryable = status in RETRYABLE_STATUSES
    if retryable:
        text = f"Microsoft Graph kept answering {status} for {operation}" + _detail(code, message)
    elif status == 404 and call.not_found:
        text = call.not_found + _detail(code, message)
    else:
        text = f"Microsoft Graph refused {operation}: {status}" + _detail(code, message)
        if status == 403 and permission:
            text += f"; the app registration needs the application permission {permission}"
    return GraphError(
        text, status=status, code=code, retryable=retryable, retry_after=retry_after, operation=operation
    )


def _batch_chunks(calls: Sequence[BatchCall], per_group: int | None) -> list[list[BatchCall]]:
    """Envelopes of at most 20 calls, with at most `per_group` calls of one group in each, in call order."""
    chunks: list[list[BatchCall]] = []
    remaining = list(calls)
    while remaining:
        chunk: list[BatchCall] = []
        counts: dict[str, int] = {}
        deferred: list[BatchCall] = []
        for call in remaining:
            group_count = counts.get(call.group, 0) if call.group is not None else 0
            if len(chunk) < BATCH_LIMIT and (
                per_group is None or call.group is None or group_count < per_group
            ):
                chunk.append(call)
                if call.group is not None:
                    counts[call.group] = group_count + 1
            else:
                deferred.append(call)
        chunks.append(chunk)
        remaining = deferred
    return chunks


def odata_string(value: str) -> str:
    """An OData string literal: in single quotes, each quote inside doubled. The one place any value (an
    attacker's subject, an Internet-Message-ID) enters a $filter; the query string is URL-encoded by httpx."""
    return "'" + str(value).replace("'", "''") + "'"


def _odata_datetime(moment: datetime) -> str:
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mailbox_messages(answer: dict) -> list[MailboxMessage]:
    messages = []
    for item in answer.get("value") or []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        sender = (
            ((item.get("from") or {}).get("emailAddress") or {}) if isinstance(item.get("from"), dict) else {}
        )
        received = None
        if isinstance(item.get("receivedDateTime"), str):
            try:
                received = datetime.fromisoformat(item["receivedDateTime"].replace("Z", "+00:00"))
            except ValueError:
                received = None
        messages.append(
            MailboxMessage(
                id=item["id"],
                subject=str(item.get("subject") or ""),
                sender_name=str(sender.get("name") or "") if isinstance(sender, dict) else "",
                sender_address=str(sender.get("address") or "") if isinstance(sender, dict) else "",
                received_at=received,
                internet_message_id=item.get("internetMessageId")
                if isinstance(item.get("internetMessageId"), str)
                else None,
                is_draft=item.get("isDraft") is True,
            )
        )
    return messages


def _mailbox(address: str) -> str:
    if not address or not address.strip():
        raise ValueError("mailbox address is empty")
    # Recipient addresses come from Microsoft's own data, but are encoded all the same: an address must never
    # turn into another Graph path.
    return quote(address.strip(), safe="@")


def _describe_transport_error(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    detail = _short(str(exc))
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _short(text: str) -> str:
    text = _CONTROL_CHARACTERS.sub(" ", text).strip()
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"
