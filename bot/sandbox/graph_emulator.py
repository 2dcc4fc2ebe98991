"""A loopback Microsoft Graph + identity platform for the demo and the tests.

One HTTPS server on 127.0.0.1 (TLS from `bot.sandbox.tls`, because MSAL refuses `http://` authorities)
speaks just enough of two services for the bot to run unchanged against it:

* the identity platform as MSAL sees it with `instance_discovery=False`: OpenID discovery at
  `/{tenant}/v2.0/.well-known/openid-configuration` and the client-credentials grant at
  `/{tenant}/oauth2/v2.0/token` (client secret, or a certificate-signed client assertion, RS256/PS256);
* Graph beta threat submission (`/beta/security/threatSubmission/{emailThreats,urlThreats,fileThreats}`:
  create, get, list with `$filter`/`$top`/`@odata.nextLink`) and JSON batching (`/beta/$batch`, `/v1.0/$batch`).

Behaviour worth knowing when writing a client against it:

* **Verdicts.** A submission is `running` / `underInvestigation` until `verdict_after` seconds (of `clock`, monotonic)
  after creation, then `succeeded` with the outcome that was decided at creation by `emulator.outcome(content_type,
  body)` (`content_type` is `"email"`, `"url"` or `"file"`; `body` the request JSON). The callable returns the
  `result` object; keys that are not `submissionResult` properties (`attackSimulationInfo`, `adminReview`, and
  `status` to end as e.g. `failed`) go to the top level. Alternatively return `{"result": {...}, **extras}`.
  `settle()` makes verdicts due at once.
* **Default outcome rules** (first match wins, case-insensitive, over the submitted text: for email the subject and
  the decoded text parts of the MIME, for URLs the URL, for files the name and decoded content, plus attachment
  names):
    1. contains "simulation" -> category `phishingSimulation`, detail `simulatedThreat`, `attackSimulationInfo` set;
    2. contains "malware", or an attachment named `*.exe`, `*.zip`, `*.html`, `*.iso` -> `malware` /
       `urlFileShouldBeBlocked`, `detectedFiles` = those attachments (name + sha256 of the decoded part; all
       attachments when only the word matched);
    3. contains "phish", "password" or "verify your account" -> `phishing` / `brandImpersonation`
       (`domainImpersonation` when a linked host is punycode, `xn--`), `userMailboxSetting`
       "isJunkMailRuleEnabled,fromFirstTimeSender";
    4. anything else -> `noThreatsFound` / `itemFoundClean`, `userMailboxSetting` "isJunkMailRuleEnabled".
  Every result lists the hosts of the URLs found in `detectedUrls`.
* **Evolvable enums.** Without `Prefer: include-unknown-enum-members` every response (GET, list, the POST's 201,
  inner batch responses; each inner request judged by its own headers) carries `unknownFutureValue` in place of
  members declared after the sentinel (result category/detail, admin review result, mailbox setting flags), as
  Graph does. Rules 1 and 4 above produce such members.
* **Block results.** A submission carrying `tenantAllowOrBlockListAction` reports, once its verdict is due, one
  `results[]` entry per sender, detected URL host and detected file: `succeeded`, or `skipped` when that entry is
  on `tenant_block_list` already (earlier blocks fill it; a test may seed it).
* **Defender for purges** (advanced hunting, `analyzedEmails/remediate`, the mailbox API by Internet-Message-ID)
  lives in `bot.sandbox.defender`: `DefenderTenant().attach(emulator)` adds those routes.
* **Employees' own reports** (the Report button: user-reported submissions, `review`, the user-reported settings)
  live in `bot.sandbox.user_reports`: `ReportButton().attach(emulator)`; they are kept with the others
  (`store_submission`), so the list, get and `$batch` above serve them.
* **Errors** have Graph's shape `{"error": {"code", "message", "innerError"}}`; unknown paths answer 400 (as Graph
  does for an unknown segment), unknown ids 404 `ResourceNotFound`, a missing or expired token 401
  `InvalidAuthenticationToken`. Timestamps have seven fractional digits, like Graph's.
* **Tokens** are JWTs (RS256-shaped, signed by nobody: the bot never verifies them, Graph would) whose `roles`
  claim lists the application permissions granted: `roles=` at construction or `granted_roles` later (tokens
  issued afterwards carry it), default `ALL_ROLES`. `phishbot doctor` reads that claim.
* **Fault injection** (`fail_next`: a status, a raw body, a delay, or a reset connection; `expire_tokens`),
  **recording** (`requests`, secrets redacted) and an optional **request validator** (a schema check;
  problems answer 400 and land in `validation_errors`) serve the tests.

No request logging: the demo prints its own story, and tests read `requests`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
import random
import re
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.parser import BytesParser
from email.utils import parseaddr, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.sandbox.tls import ClientCertificate, TlsMaterial, server_context

# --- evolvable enums ----------------------------------------------------------------------------------------
# Members declared after `unknownFutureValue` in the beta CSDL (copied here because the demo runs without the
# reference files; a test compares them with tests/fixtures/graph-openapi/enums.json).

SUBMISSION_RESULT_CATEGORY_AFTER_SENTINEL = frozenset(
    {
        "beingAnalyzed",
        "notSubmittedToMicrosoft",
        "phishingSimulation",
        "allowedDueToOrganizationOverride",
        "blockedDueToOrganizationOverride",
        "allowedDueToUserOverride",
        "blockedDueToUserOverride",
        "itemNotfound",
        "threatsFound",
        "noThreatsFound",
        "domainImpersonation",
        "userImpersonation",
        "brandImpersonation",
        "authenticationFailure",
        "spoofedBlocked",
        "spoofedAllowed",
        "reasonLostInTransit",
        "bulk",
    }
)
SUBMISSION_RESULT_DETAIL_AFTER_SENTINEL = frozenset(
    {
        "willNotifyOnceDone",
        "checkUserReportedSettings",
        "partOfEducationCampaign",
        "allowedByAdvancedDelivery",
        "allowedByEnhancedFiltering",
        "itemDeleted",
        "itemFoundClean",
        "itemFoundMalicious",
        "unableToMakeDecision",
        "domainResembledYourOrganization",
        "endUserBeingImpersonated",
        "associatedWithBrand",
        "senderFailedAuthentication",
        "endUserBeingSpoofed",
        "itemFoundBulk",
        "itemNotReceivedByService",
        "itemFoundSpam",
    }
)
# The flags enum ends with its sentinel today; kept so that a future member is one line away.
USER_MAILBOX_SETTING_AFTER_SENTINEL: frozenset[str] = frozenset()

AFTER_SENTINEL: dict[str, frozenset[str]] = {
    "microsoft.graph.security.submissionResultCategory": SUBMISSION_RESULT_CATEGORY_AFTER_SENTINEL,
    "microsoft.graph.security.submissionResultDetail": SUBMISSION_RESULT_DETAIL_AFTER_SENTINEL,
    "microsoft.graph.security.userMailboxSetting": USER_MAILBOX_SETTING_AFTER_SENTINEL,
}
SUBMISSION_CATEGORIES = frozenset({"notJunk", "spam", "phishing", "malware"})

UNKNOWN_FUTURE_VALUE = "unknownFutureValue"
PREFER_UNKNOWN_MEMBERS = "include-unknown-enum-members"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

MAX_BODY_BYTES = 40 * 1024 * 1024
MAX_BATCH_REQUESTS = 20
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
TOKEN_LIFETIME = 3599
# Every application permission some phishbot feature uses (design §5); what an emulator grants by default.
ALL_ROLES = (
    "ThreatSubmission.ReadWrite.All",
    "ThreatSubmission.Read.All",
    "ThreatHunting.Read.All",
    "SecurityAnalyzedMessage.ReadWrite.All",
    "Mail.ReadWrite",
    "Mail.Read",
)
_CLOCK_SKEW = 300  # seconds of client clock error tolerated in client assertions, as Entra does
_GRAPH_CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
)
_IDENTITY_CONTENT_TYPE = "application/json; charset=utf-8"

_SECURITY = "#microsoft.graph.security."
_KINDS = {"emailThreats": "email", "urlThreats": "url", "fileThreats": "file"}
_CREATABLE_TYPES = {
    "emailThreats": {_SECURITY + "emailContentThreatSubmission", _SECURITY + "emailUrlThreatSubmission"},
    "urlThreats": {_SECURITY + "urlThreatSubmission"},
    "fileThreats": {_SECURITY + "fileContentThreatSubmission"},
}
_DEFAULT_TYPES = {
    "urlThreats": _SECURITY + "urlThreatSubmission",
    "fileThreats": _SECURITY + "fileContentThreatSubmission",
}
_RESULT_KEYS = frozenset({"category", "detail", "detectedFiles", "detectedUrls", "userMailboxSetting"})
_RISKY_EXTENSIONS = (".exe", ".zip", ".html", ".iso")
_PHISHING_WORDS = ("phish", "password", "verify your account")
_GRAPH_CODES = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "Forbidden",
    404: "ResourceNotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "RequestEntityTooLarge",
    424: "FailedDependency",
    429: "TooManyRequests",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
_GRAPH_MESSAGES = {
    429: "Please retry again later.",
    503: "The service is currently unavailable. Please retry later.",
}
_IDENTITY_ERRORS = {400: "invalid_request", 401: "invalid_client", 429: "temporarily_unavailable"}

# Bounds for reading hostile submissions: enough to decide an outcome, never enough to hurt.
_MAX_TEXT_CHARS = 2_000_000
_MAX_PARTS = 1000
_MAX_URLS = 100
_URL_PATTERN = re.compile(r"""https?://[^\s"'<>()\[\]{}\\]+""", re.IGNORECASE)
_FILTER_CLAUSE = re.compile(r"^\s*(status|category|source|contentType)\s+eq\s+'([^']*)'\s*$")
# The documented time filter: `createdDateTime ge 2022-01-01T00:00:00Z` (an unquoted DateTimeOffset).
_CREATED_CLAUSE = re.compile(
    r"^\s*createdDateTime\s+(ge|gt|le|lt)\s+(\d{4}-\d\d-\d\dT[0-9:.]+(?:Z|[+-]\d\d:\d\d))\s*$"
)
_COMPARE = {
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


# --- public value types -------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the emulator saw it; secrets are replaced by "***"."""

    method: str
    path: str  # without the query; inner batch requests carry the resolved versioned path
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    # Parsed JSON; the form dict for the token endpoint; None without a body (the text if it was not JSON).
    body: Any
    in_batch: bool = False
    batch_id: str | None = None  # the inner request's id inside its $batch
    status: int | None = None  # the status answered, once answered

    @property
    def is_graph(self) -> bool:
        return self.path.startswith(("/beta/", "/v1.0/"))


Outcome = Callable[[str, dict[str, Any]], dict[str, Any]]
RequestValidator = Callable[[str, str, dict[str, Any] | None], list[str]]
RouteHandler = Callable[[RecordedRequest], tuple[Any, ...] | None]
# More of the identity service (bot.sandbox.entra_emulator): `(endpoint, tenant, form)`, endpoint "token" or
# "devicecode", answers `(status, json_body)` for the requests it serves, or None to leave them to the emulator.
IdentityHandler = Callable[[str, str, dict[str, str]], tuple[Any, ...] | None]


# --- internal types -----------------------------------------------------------------------------------------


@dataclass
class _Reply:
    status: int
    body: Any = None  # JSON-able, raw bytes (injected faults), or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # no answer at all: the connection is torn down (an injected fault)


@dataclass
class _Fault:
    method: str
    segments: tuple[str, ...]
    status: int
    retry_after: float | None
    remaining: int
    in_batch: bool
    body: bytes | None
    delay: float | None
    reset: bool = False


@dataclass
class _Submission:
    seq: int
    kind: str
    obj: dict[str, Any]
    due: float
    result: dict[str, Any]
    extras: dict[str, Any]
    settled: bool = False


@dataclass
class _MailboxMessage:
    id: str
    mailbox: str  # lower-case address (userPrincipalName)
    mime: bytes
    subject: str
    sender_name: str
    sender_address: str
    internet_message_id: str | None
    received: datetime
    folder: str
    is_draft: bool


@dataclass
class _EmailFacts:
    internet_message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    received: str | None = None
    text: str = ""
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (file name, sha256 hex)


# --- small helpers ------------------------------------------------------------------------------------------


def _now_iso() -> str:
    # Graph writes seven fractional digits; clients must not assume Python's six.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _parse_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date and time as Graph writes it (up to seven fractional digits, Z or an offset)."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"([^.Z+]+)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", value.strip())
    if match is None:
        return None
    base, fraction, zone = match.groups()
    try:
        moment = datetime.fromisoformat(
            f"{base}.{(fraction or '0')[:6]:0<6}{'+00:00' if zone == 'Z' else zone}"
        )
    except ValueError:
        return None
    return moment.astimezone(UTC)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def graph_error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
    }
    if status == 429:
        inner.update({"code": "429", "message": "Please retry after", "status": "429"})
    return {
        "error": {
            "code": code or _GRAPH_CODES.get(status, "UnknownError"),
            "message": message,
            "innerError": inner,
        }
    }


def identity_error(error: str, description: str, code: int) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "error_codes": [code],
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url_thumbprint(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def client_assertion_problem(
    assertion: str, *, certificates: list[x509.Certificate], client_id: str, audience: str
) -> str | None:
    """Why a certificate-signed client assertion is unacceptable (as Entra checks it: the key it names among the
    application's `certificates`, the signature, audience, issuer and subject, lifetime), in words that never
    quote it; None when it is good."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return "is not a compact JWS"
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return "is not valid base64url JSON"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "is not a JWT"
    certificate = _named_certificate(header, certificates)
    if certificate is None:
        return "names a key (x5t or x5t#S256) that is not registered for this application"
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return "cannot be checked: the registered certificate is not RSA"
    signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", errors="replace")
    algorithm = header.get("alg")
    if algorithm == "RS256":
        scheme: padding.AsymmetricPadding = padding.PKCS1v15()
    elif algorithm == "PS256":
        scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
    else:
        return "uses an unsupported algorithm (RS256 or PS256 expected)"
    try:
        public_key.verify(signature, signing_input, scheme, hashes.SHA256())
    except InvalidSignature:
        return "failed signature validation"
    now = time.time()
    if claims.get("aud") != audience:
        return "has the wrong audience (aud must be the token endpoint)"
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        return "must have iss and sub equal to the client id"
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires + _CLOCK_SKEW < now:
        return "has expired"
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before - _CLOCK_SKEW > now:
        return "is not valid yet"
    return None


def _named_certificate(
    header: dict[str, Any], certificates: list[x509.Certificate]
) -> x509.Certificate | None:
    """The registered certificate the assertion's header names by thumbprint (x5t, SHA-1, or x5t#S256)."""
    for certificate in certificates:
        sha1 = _b64url_thumbprint(certificate.fingerprint(hashes.SHA1()))  # noqa: S303 -- x5t is SHA-1 by definition
        sha256 = _b64url_thumbprint(certificate.fingerprint(hashes.SHA256()))
        if "x5t" in header and str(header["x5t"]).rstrip("=") != sha1:
            continue
        if "x5t#S256" in header and str(header["x5t#S256"]).rstrip("=") != sha256:
            continue
        if "x5t" in header or "x5t#S256" in header or len(certificates) == 1:
            return certificate
    return None


def _wants_unknown_members(headers: dict[str, str]) -> bool:
    preferences = (item.strip().lower() for item in headers.get("prefer", "").split(","))
    return PREFER_UNKNOWN_MEMBERS in preferences


def _route_segments(path: str) -> tuple[str, ...]:
    return tuple(segment for segment in path.strip("/").split("/"))


def _segments_match(pattern: tuple[str, ...], segments: tuple[str, ...]) -> bool:
    if len(pattern) != len(segments):
        return False
    return all(
        (want.startswith("{") and want.endswith("}") and bool(got)) or want == got
        for want, got in zip(pattern, segments, strict=True)
    )


def _parse_route(route: str) -> tuple[str, tuple[str, ...]]:
    method, _, path = route.strip().partition(" ")
    path = path.strip()
    if not method.isalpha() or not path.startswith("/"):
        raise ValueError(f"route must look like 'GET /beta/...', got {route!r}")
    return method.upper(), _route_segments(path)


def _mask_unknown_members(obj: dict[str, Any]) -> dict[str, Any]:
    """Replace members declared after the sentinel by unknownFutureValue, as Graph does without Prefer."""
    result = obj.get("result")
    if isinstance(result, dict):
        result = dict(result)
        if result.get("category") in SUBMISSION_RESULT_CATEGORY_AFTER_SENTINEL:
            result["category"] = UNKNOWN_FUTURE_VALUE
        if result.get("detail") in SUBMISSION_RESULT_DETAIL_AFTER_SENTINEL:
            result["detail"] = UNKNOWN_FUTURE_VALUE
        flags = result.get("userMailboxSetting")
        if isinstance(flags, str) and flags:
            masked: list[str] = []
            for flag in (item.strip() for item in flags.split(",")):
                value = UNKNOWN_FUTURE_VALUE if flag in USER_MAILBOX_SETTING_AFTER_SENTINEL else flag
                if value not in masked:
                    masked.append(value)
            result["userMailboxSetting"] = ",".join(masked)
        obj["result"] = result
    review = obj.get("adminReview")
    if isinstance(review, dict) and review.get("reviewResult") in SUBMISSION_RESULT_CATEGORY_AFTER_SENTINEL:
        obj["adminReview"] = {**review, "reviewResult": UNKNOWN_FUTURE_VALUE}
    return obj


# --- reading hostile content ---------------------------------------------------------------------------------


def _decode_base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a string")
    # .NET's decoder ignores whitespace; so do we, but nothing else.
    compact = re.sub(r"\s+", "", value)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not valid base64") from error


def _header_text(message: Any, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 -- attacker-written headers must never become a 500
        return None
    if value is None:
        return None
    text = str(value)
    try:
        text = str(make_header(decode_header(text)))
    except Exception:  # noqa: BLE001, S110 -- unknown charsets, broken encoded words: keep the raw text
        pass
    return " ".join(text.split()) or None


def _part_text(part: Any) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 -- hostile transfer encodings
        return ""
    if not isinstance(payload, bytes):
        return ""
    payload = payload[:_MAX_TEXT_CHARS]
    charset = "utf-8"
    try:
        charset = part.get_content_charset() or "utf-8"
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return payload.decode("latin-1")


def _read_email_facts(raw: bytes) -> _EmailFacts:
    """What the emulator needs from an .eml: headers for the submission object, text and attachments for rules."""
    facts = _EmailFacts()
    try:
        # compat32, not policy.default: the modern header classes are many times slower on hostile input
        # (thousands of nested parts), and the emulator only needs a few headers as text.
        message = BytesParser(policy=policy.compat32).parsebytes(raw)
    except Exception:  # noqa: BLE001 -- the parser is lenient, but hostile input must never become a 500
        return facts
    facts.internet_message_id = _header_text(message, "Message-ID")
    facts.subject = _header_text(message, "Subject")
    sender = _header_text(message, "From")
    if sender:
        facts.sender = parseaddr(sender)[1] or None
    date = _header_text(message, "Date")
    if date:
        try:
            when = parsedate_to_datetime(date)
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
            facts.received = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        except (TypeError, ValueError, IndexError, OverflowError):
            facts.received = None
    texts = [facts.subject or ""]
    size = 0
    try:
        for count, part in enumerate(message.walk()):
            if count >= _MAX_PARTS:
                break
            if part.is_multipart():
                continue
            name = None
            try:
                name = part.get_filename()
            except Exception:  # noqa: BLE001 -- hostile Content-Disposition parameters
                name = None
            if name:
                try:
                    payload = part.get_payload(decode=True) or b""
                except Exception:  # noqa: BLE001 -- hostile transfer encodings
                    payload = b""
                digest = hashlib.sha256(payload if isinstance(payload, bytes) else b"").hexdigest()
                facts.attachments.append((str(name)[:255], digest))
                texts.append(str(name))
            elif part.get_content_maintype() == "text" and size < _MAX_TEXT_CHARS:
                text = _part_text(part)[: _MAX_TEXT_CHARS - size]
                size += len(text)
                texts.append(text)
    except Exception:  # noqa: BLE001, S110 -- deep or malformed MIME trees: keep what was read so far
        pass
    facts.text = "\n".join(texts)
    return facts


def email_headline(raw: bytes) -> dict[str, str | None]:
    """What a submission object says of an .eml: its Internet-Message-ID, subject, sender and date (Graph's
    `internetMessageId`, `subject`, `sender`, `receivedDateTime`)."""
    facts = _read_email_facts(raw)
    return {
        "internetMessageId": facts.internet_message_id,
        "subject": facts.subject,
        "sender": facts.sender,
        "receivedDateTime": facts.received,
    }


def _url_hosts(text: str) -> list[str]:
    hosts: list[str] = []
    for match in _URL_PATTERN.finditer(text):
        try:
            host = urlsplit(match.group(0)).hostname
        except ValueError:
            continue
        if host and host not in hosts:
            hosts.append(host)
            if len(hosts) >= _MAX_URLS:
                break
    return hosts


def _submitted_content(
    content_type: str, body: dict[str, Any]
) -> tuple[str, list[tuple[str, str]], str | None]:
    """(text, attachments, date) of a submission body, for the outcome rules."""
    if content_type == "url":
        return str(body.get("webUrl") or ""), [], None
    if content_type == "file":
        name = str(body.get("fileName") or "")
        try:
            content = _decode_base64(body.get("fileContent"))
        except ValueError:
            content = b""
        text = name + "\n" + content[:_MAX_TEXT_CHARS].decode("utf-8", errors="replace")
        return text, [(name, hashlib.sha256(content).hexdigest())], None
    if "fileContent" in body:
        try:
            raw = _decode_base64(body.get("fileContent"))
        except ValueError:
            raw = b""
        facts = _read_email_facts(raw)
        return facts.text, facts.attachments, facts.received
    return str(body.get("messageUrl") or ""), [], None


def default_outcome(content_type: str, body: dict[str, Any]) -> dict[str, Any]:
    """The verdict rules described in the module docstring."""
    text, attachments, date = _submitted_content(content_type, body)
    lowered = text.lower()
    hosts = _url_hosts(text)
    if "simulation" in lowered:
        fingerprint = hashlib.sha256(text.encode("utf-8", errors="replace")).hexdigest()
        return {
            "category": "phishingSimulation",
            "detail": "simulatedThreat",
            "detectedUrls": hosts,
            "attackSimulationInfo": {
                "attackSimDateTime": date or _now_iso(),
                "attackSimDurationTime": "P7D",
                "attackSimId": str(uuid.uuid5(uuid.NAMESPACE_URL, "phishbot-sandbox:" + fingerprint)),
                "attackSimUserId": body.get("recipientEmailAddress"),
            },
        }
    risky = [item for item in attachments if item[0].lower().endswith(_RISKY_EXTENSIONS)]
    if "malware" in lowered or risky:
        return {
            "category": "malware",
            "detail": "urlFileShouldBeBlocked",
            "detectedUrls": hosts,
            "detectedFiles": [
                {"fileName": name, "fileHash": digest} for name, digest in (risky or attachments)
            ],
        }
    if any(word in lowered for word in _PHISHING_WORDS):
        punycode = any(label.startswith("xn--") for host in hosts for label in host.split("."))
        return {
            "category": "phishing",
            "detail": "domainImpersonation" if punycode else "brandImpersonation",
            "detectedUrls": hosts,
            "userMailboxSetting": "isJunkMailRuleEnabled,fromFirstTimeSender",
        }
    return {
        "category": "noThreatsFound",
        "detail": "itemFoundClean",
        "detectedUrls": hosts,
        "userMailboxSetting": "isJunkMailRuleEnabled",
    }


# --- the HTTP layer ------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: GraphEmulator, tls: TlsMaterial) -> None:
        self.emulator = emulator
        self.tls_context = server_context(tls)
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        # The handshake runs in the connection's own thread (see _Handler.setup), so a client that stalls or
        # distrusts our CA cannot block accept() for everyone else.
        wrapped = self.tls_context.wrap_socket(connection, server_side=True, do_handshake_on_connect=False)
        with self.connections_lock:
            self.connections.add(wrapped)
        return wrapped, address

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up, failing the handshake or timing out are normal here; stay quiet.
        return

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "phishbot-sandbox-graph"
    sys_version = ""
    timeout = 30
    # Headers and body leave in one write (the stdlib flushes after each request); written separately,
    # Nagle's algorithm and the client's delayed ACK cost ~40 ms per keep-alive request.
    wbufsize = 1 << 16
    server: _Server

    def setup(self) -> None:
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        self.request.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _serve(self) -> None:
        try:
            raw_body, early = self._read_body()
            if early is None:
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = self.server.emulator._handle_http(self.command, self.path, headers, raw_body)
            else:
                reply = early
        except Exception:  # noqa: BLE001 -- a handler bug must answer 500, never take the server down
            reply = _Reply(500, graph_error(500, "The sandbox failed to handle this request."))
        self._send(reply)

    def _read_body(self) -> tuple[bytes, _Reply | None]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return b"", _Reply(411, graph_error(411, "Send a Content-Length.", "LengthRequired"))
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return b"", _Reply(400, graph_error(400, "Invalid Content-Length."))
        if length > MAX_BODY_BYTES:
            # Unread bytes would poison the connection for the next request.
            self.close_connection = True
            return b"", _Reply(413, graph_error(413, "The request body is too large."))
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            # The client died mid-request (a kill -9): Graph never sees a request it did not receive whole.
            self.close_connection = True
            return b"", _Reply(400, None, reset=True)
        return body, None

    def _send(self, reply: _Reply) -> None:
        if reply.reset:
            # An abortive close (RST) with nothing sent: what a crashed gateway or a dropped NAT entry looks like.
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            return
        headers = dict(reply.headers)
        if reply.body is None:
            payload = b""
        elif isinstance(reply.body, bytes):
            payload = reply.body
        else:
            payload = json.dumps(reply.body).encode("utf-8")
        if payload:
            headers.setdefault("Content-Type", _GRAPH_CONTENT_TYPE)
        try:
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
        except OSError:
            self.close_connection = True


# --- the emulator ----------------------------------------------------------------------------------------------


class GraphEmulator:
    """Loopback Graph + identity. `with GraphEmulator(make_tls(dir)) as graph: ...` or `.start()` / `.stop()`.

    `client_secret=None` refuses secrets; `client_certificate` enables certificate assertions (both may be set).
    `verdict_after` and `outcome` may be changed at any time; they apply to submissions created afterwards.
    `request_validator(method, versioned_path, json_body)` returns problems; each makes the request a 400.
    """

    def __init__(
        self,
        tls: TlsMaterial,
        *,
        tenant_id: str = "sandbox-tenant",
        client_id: str = "sandbox-client",
        client_secret: str | None = "sandbox-secret",  # noqa: S107 -- a sandbox credential, published on purpose
        client_certificate: ClientCertificate | None = None,
        verdict_after: float = 2.0,
        request_validator: RequestValidator | None = None,
        roles: tuple[str, ...] | list[str] = ALL_ROLES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tls = tls
        # When verdicts (and Defender's remediations) fall due: a test gives the bot's clock, so skipping a poll
        # gap on it brings the verdict too, instead of the test waiting out `verdict_after` in real time.
        self.clock = clock
        self.granted_roles: tuple[str, ...] = tuple(roles)
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.client_certificate = client_certificate
        self.verdict_after = verdict_after
        self.request_validator = request_validator
        self.outcome: Outcome = default_outcome

        self.requests: list[RecordedRequest] = []
        self.validation_errors: list[str] = []
        self.token_requests = 0
        self.batch_count = 0
        self.batch_inner_count = 0

        self._lock = threading.RLock()
        self._tokens: dict[str, float] = {}  # access token -> monotonic expiry
        self._faults: list[_Fault] = []
        self._submissions: dict[str, _Submission] = {}
        self._sequence = 0
        self._routes: list[tuple[str, tuple[str, ...], RouteHandler]] = []
        # The tenant's Tenant Allow/Block List as block submissions fill it: (entry type, lower-case value).
        # Tests may seed it to see Microsoft skip an entry that exists already.
        self.tenant_block_list: set[tuple[str, str]] = set()
        self._mailboxes: dict[str, list[_MailboxMessage]] = {}
        # False: the app registration lacks a mail permission, and mailbox calls answer 403 as Graph does.
        self.mail_access = True
        # The directory (bot.sandbox.entra_emulator.EntraDirectory.attach): device-code sign-ins, and the
        # client-credentials grant for the app registrations it holds.
        self.identity_handler: IdentityHandler | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # the client secret stays out of reprs
        return f"GraphEmulator(base_url={self.base_url if self._server else None!r}, tenant_id={self.tenant_id!r})"

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> GraphEmulator:
        if self._server is not None:
            return self
        self._server = _Server(self, self.tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="graph-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        """What MSAL takes as `authority` (with `instance_discovery=False`)."""
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def token_endpoint(self) -> str:
        return f"{self.base_url}/{self.tenant_id}/oauth2/v2.0/token"

    @property
    def scope(self) -> str:
        return f"{self.base_url}/.default"

    @property
    def client_secret(self) -> str | None:
        """The registered secret (what the bot's MS_CLIENT_SECRET must be); kept out of repr."""
        return self._client_secret

    # -- test controls -----------------------------------------------------------------------------------------

    def issue_token(self, claims: dict[str, Any] | None = None) -> str:
        """A valid access token without the OAuth dance (for tests that drive Graph with plain httpx). `claims`
        replace the app token's own (a directory issues delegated and other apps' tokens this way)."""
        token = self._jwt(claims or {})
        with self._lock:
            self._tokens[token] = time.monotonic() + TOKEN_LIFETIME
        return token

    def _jwt(self, overrides: dict[str, Any]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": "sandbox"}
        claims = {
            "aud": self.base_url if self._server else "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": self.client_id,
            "tid": self.tenant_id,
            "idtyp": "app",
            "roles": list(self.granted_roles),
            "uti": secrets.token_urlsafe(16),
            **overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}  # None: leave out

        def part(value: Any) -> str:
            raw = value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        return ".".join((part(header), part(claims), part(secrets.token_bytes(64))))

    @property
    def issued_tokens(self) -> list[str]:
        """Every access token handed out (for tests that check none of them leaks)."""
        with self._lock:
            return list(self._tokens)

    def expire_tokens(self) -> None:
        """Invalidate every issued token: the next Graph call answers 401 InvalidAuthenticationToken."""
        with self._lock:
            self._tokens.clear()

    def fail_next(
        self,
        route: str,
        *,
        status: int,
        retry_after: float | None = None,
        times: int = 1,
        in_batch: bool = False,
        body: bytes | None = None,
        delay: float | None = None,
        reset: bool = False,
    ) -> None:
        """Answer the next `times` requests matching `route` ("METHOD /path", `{x}` = one segment) with `status`.

        `in_batch=True` targets inner requests of `$batch` (matched against their versioned path) instead of
        direct ones. `body` replaces the response body verbatim; `delay` sleeps before answering. `reset=True`
        answers nothing: the request is read, not acted on, and the connection is reset (`status` is ignored;
        the recorded request keeps status None).
        """
        method, segments = _parse_route(route)
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        if times < 1:
            raise ValueError("times must be at least 1")
        if reset and in_batch:
            raise ValueError(
                "an inner request of a $batch cannot reset the connection; reset the $batch itself"
            )
        with self._lock:
            self._faults.append(
                _Fault(method, segments, status, retry_after, times, in_batch, body, delay, reset)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def add_route(self, route: str, handler: RouteHandler) -> None:
        """Serve another Graph call: `handler(request)` returns `(status, json_body)` or `(status, body, headers)`,
        or None to let the next route (or the built-in one) answer.

        Added routes are tried before the built-in ones and go through the same token check, validation,
        fault injection and batching.
        """
        method, segments = _parse_route(route)
        with self._lock:
            self._routes.append((method, segments, handler))

    def add_mailbox_message(
        self,
        mailbox: str,
        mime: bytes,
        *,
        received: datetime | None = None,
        folder: str = "inbox",
        is_draft: bool = False,
    ) -> str:
        """Put a message (RFC 822 bytes) in a mailbox; returns its Graph id. `received` defaults to now."""
        facts = _read_email_facts(mime)
        try:
            parsed = BytesParser(policy=policy.compat32).parsebytes(mime, headersonly=True)
            sender_name, sender_address = parseaddr(_header_text(parsed, "From") or "")
        except Exception:  # noqa: BLE001 -- a test may seed a broken message on purpose
            sender_name, sender_address = "", ""
        message_id = "AAMkAD" + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")
        when = received or datetime.now(UTC)
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        with self._lock:
            self._mailboxes.setdefault(mailbox.strip().lower(), []).append(
                _MailboxMessage(
                    id=message_id,
                    mailbox=mailbox.strip().lower(),
                    mime=bytes(mime),
                    subject=facts.subject or "",
                    sender_name=sender_name,
                    sender_address=sender_address,
                    internet_message_id=facts.internet_message_id,
                    received=when,
                    folder=folder,
                    is_draft=is_draft,
                )
            )
        return message_id

    def mailbox(self, mailbox: str) -> list[dict[str, Any]]:
        """The messages of a mailbox as Graph lists them (newest first), for assertions."""
        with self._lock:
            stored = list(self._mailboxes.get(mailbox.strip().lower(), ()))
        return [_message_resource(m) for m in sorted(stored, key=lambda m: m.received, reverse=True)]

    def settle(self, submission_id: str | None = None) -> None:
        """Make the verdict of one submission (or all) due now."""
        with self._lock:
            for key, submission in self._submissions.items():
                if submission_id is None or key == submission_id:
                    submission.due = 0.0

    # -- observations ------------------------------------------------------------------------------------------

    def graph_requests(self) -> list[RecordedRequest]:
        """Every HTTP request that reached Graph (each `$batch` counts once; identity calls excluded)."""
        with self._lock:
            return [r for r in self.requests if r.is_graph and not r.in_batch]

    def batch_requests(self) -> list[RecordedRequest]:
        """The inner requests of all `$batch` calls, in the order they were dispatched."""
        with self._lock:
            return [r for r in self.requests if r.in_batch]

    @property
    def submissions(self) -> dict[str, dict[str, Any]]:
        """Submission id -> the object as Graph would return it now (with every enum member)."""
        with self._lock:
            return {key: self._current(submission) for key, submission in self._submissions.items()}

    # -- request handling --------------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _take_fault(self, method: str, path: str, *, in_batch: bool) -> _Fault | None:
        segments = _route_segments(path)
        with self._lock:
            for fault in self._faults:
                if (
                    fault.in_batch == in_batch
                    and fault.method == method
                    and _segments_match(fault.segments, segments)
                ):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @staticmethod
    def _fault_reply(fault: _Fault, *, identity: bool) -> _Reply:
        if fault.delay:
            time.sleep(fault.delay)
        if fault.reset:
            return _Reply(fault.status, reset=True)
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = _format_seconds(fault.retry_after)
        if fault.body is not None:
            return _Reply(fault.status, fault.body, headers)
        if identity:
            error = _IDENTITY_ERRORS.get(
                fault.status, "temporarily_unavailable" if fault.status >= 500 else "invalid_request"
            )
            headers["Content-Type"] = _IDENTITY_CONTENT_TYPE
            return _Reply(
                fault.status, identity_error(error, "AADSTS50000: Injected failure.", 50000), headers
            )
        message = _GRAPH_MESSAGES.get(fault.status, "Injected failure.")
        return _Reply(fault.status, graph_error(fault.status, message), headers)

    def _handle_http(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> _Reply:
        split = urlsplit(target)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        segments = _route_segments(path)
        if len(segments) == 4 and segments[1:] == ("v2.0", ".well-known", "openid-configuration"):
            return self._identity(method, path, query, headers, raw_body, discovery=True)
        if (
            len(segments) == 4
            and segments[1:3] == ("oauth2", "v2.0")
            and segments[3] in ("token", "devicecode")
        ):
            return self._identity(method, path, query, headers, raw_body, discovery=False)
        if segments[0] in ("beta", "v1.0") and len(segments) > 1:
            return self._graph(method, path, query, headers, raw_body)
        return _Reply(404, graph_error(404, "No such endpoint in the sandbox."))

    def _graph(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> _Reply:
        body: Any = None
        unreadable = False
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                unreadable = True
                body = raw[:1000].decode("utf-8", errors="replace")
        recorded = RecordedRequest(method, path, query, _redact_headers(headers), body)
        self._record(recorded)
        reply = self._graph_reply(method, path, query, headers, body, unreadable)
        recorded.status = None if reply.reset else reply.status
        reply.headers.setdefault("request-id", str(uuid.uuid4()))
        reply.headers.setdefault("client-request-id", headers.get("client-request-id") or str(uuid.uuid4()))
        return reply

    def _graph_reply(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        unreadable: bool,
    ) -> _Reply:
        fault = self._take_fault(method, path, in_batch=False)
        if fault is not None:
            return self._fault_reply(fault, identity=False)
        problem = self._token_problem(headers)
        if problem is not None:
            reply = _Reply(401, graph_error(401, problem))
            reply.headers["WWW-Authenticate"] = 'Bearer realm="", error="invalid_token"'
            return reply
        if unreadable:
            return _Reply(400, graph_error(400, "Unable to read JSON request payload."))
        invalid = self._validate(method, path, body)
        if invalid is not None:
            return invalid
        return self._dispatch(method, path, query, headers, body, in_batch=False)

    def _token_problem(self, headers: dict[str, str]) -> str | None:
        scheme, _, token = headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "Access token is empty."
        with self._lock:
            expiry = self._tokens.get(token.strip())
        if expiry is None or expiry <= time.monotonic():
            return "Access token has expired or is not yet valid."
        return None

    def _validate(self, method: str, path: str, body: Any) -> _Reply | None:
        if self.request_validator is None:
            return None
        problems = list(self.request_validator(method, path, body if isinstance(body, dict) else None))
        if not problems:
            return None
        with self._lock:
            self.validation_errors.extend(f"{method} {path}: {problem}" for problem in problems)
        return _Reply(400, graph_error(400, "; ".join(problems)))

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        *,
        in_batch: bool,
    ) -> _Reply:
        segments = _route_segments(path)
        version, rest = segments[0], segments[1:]
        with self._lock:
            routes = list(self._routes)
        for route_method, pattern, handler in routes:
            if route_method == method and _segments_match(pattern, segments):
                request = RecordedRequest(method, path, query, headers, body, in_batch)
                answer = handler(request)
                if answer is None:
                    continue  # the route passes: a later route, or the built-in one, answers
                return _custom_reply(answer)
        if rest == ("$batch",):
            if method != "POST":
                return _Reply(405, graph_error(405, "Use POST for $batch."))
            if in_batch:
                return _Reply(400, graph_error(400, "A $batch cannot contain a $batch."))
            return self._batch(version, body)
        if len(rest) >= 3 and rest[:2] == ("security", "threatSubmission") and rest[2] in _KINDS:
            if version != "beta":
                return _Reply(400, graph_error(400, "Resource not found for the segment 'threatSubmission'."))
            kind = rest[2]
            include_unknown = _wants_unknown_members(headers)
            if len(rest) == 3 and method == "POST":
                return self._create(kind, body, include_unknown)
            if len(rest) == 3 and method == "GET":
                return self._list(kind, query, include_unknown)
            if len(rest) == 4 and method == "GET":
                return self._get(kind, rest[3], include_unknown)
            if len(rest) in (3, 4):
                return _Reply(405, graph_error(405, f"{method} is not supported on this resource."))
        if len(rest) >= 3 and rest[0] == "users" and rest[2] == "messages" and version == "v1.0":
            return self._mailbox_request(method, rest[1], rest[3:], query)
        return _Reply(400, graph_error(400, f"The sandbox does not serve {method} {path}."))

    # -- mailboxes (/users/{id}/messages) -----------------------------------------------------------------------

    def _mailbox_request(
        self, method: str, user: str, rest: tuple[str, ...], query: dict[str, str]
    ) -> _Reply:
        if not self.mail_access:
            return _Reply(
                403,
                graph_error(403, "Access is denied. Check credentials and try again.", "ErrorAccessDenied"),
            )
        with self._lock:
            if user.lower() not in self._mailboxes:
                return _Reply(
                    404,
                    graph_error(404, f"The user {user} was not found or has no mailbox.", "ErrorInvalidUser"),
                )
            stored = list(self._mailboxes[user.lower()])
        if method != "GET":
            return _Reply(405, graph_error(405, f"{method} is not supported on this resource."))
        if not rest:
            return self._list_messages(stored, query)
        found = next((m for m in stored if m.id == rest[0]), None)
        if found is None:
            return _Reply(
                404, graph_error(404, "The specified object was not found in the store.", "ErrorItemNotFound")
            )
        if len(rest) == 1:
            return _Reply(200, _select(_message_resource(found), query.get("$select")))
        if rest[1:] == ("$value",):
            return _Reply(200, found.mime, {"Content-Type": "text/plain"})
        return _Reply(400, graph_error(400, "The sandbox does not serve this message segment."))

    def _list_messages(self, stored: list[_MailboxMessage], query: dict[str, str]) -> _Reply:
        options = {key.lower(): value for key, value in query.items()}
        try:
            clauses = parse_message_filter(options.get("$filter", ""))
        except ValueError as problem:
            return _Reply(400, graph_error(400, f"Invalid filter clause: {problem}", "BadRequest"))
        order = options.get("$orderby", "").strip()
        if order and order not in ("receivedDateTime desc", "receivedDateTime asc", "receivedDateTime"):
            return _Reply(400, graph_error(400, "The sandbox orders messages by receivedDateTime only."))
        if order and clauses and clauses[0][0] != "receivedDateTime":
            # Exchange insists the $orderby property come first in a $filter that is given with it.
            return _Reply(
                400,
                graph_error(
                    400,
                    "The restriction or sort order is too complex for this operation.",
                    "InefficientFilter",
                ),
            )
        try:
            top = int(options.get("$top") or 10)
        except ValueError:
            return _Reply(400, graph_error(400, "Invalid $top value."))
        if not 1 <= top <= 1000:
            return _Reply(400, graph_error(400, "Invalid $top value."))
        matching = [m for m in stored if all(_message_matches(m, clause) for clause in clauses)]
        matching.sort(key=lambda m: m.received, reverse=not order.endswith(" asc"))
        owner = quote(stored[0].mailbox) if stored else ""
        body = {
            "@odata.context": f"{self.base_url}/v1.0/$metadata#users('{owner}')/messages",
            "value": [_select(_message_resource(m), options.get("$select")) for m in matching[:top]],
        }
        return _Reply(200, body)

    # -- identity ----------------------------------------------------------------------------------------------

    def _identity(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
        *,
        discovery: bool,
    ) -> _Reply:
        tenant = _route_segments(path)[0]
        form: dict[str, str] | None = None
        if not discovery:
            with self._lock:
                self.token_requests += 1
            form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))
        recorded = RecordedRequest(method, path, query, _redact_headers(headers), _redact_form(form))
        self._record(recorded)
        fault = self._take_fault(method, path, in_batch=False)
        if fault is not None:
            reply = self._fault_reply(fault, identity=True)
        elif discovery:
            reply = self._discovery(method, tenant)
        elif (answer := self._identity_extension(method, path, tenant, form or {})) is not None:
            reply = _custom_reply(answer)
        else:
            reply = self._token(method, tenant, form or {})
        reply.headers.setdefault("Content-Type", _IDENTITY_CONTENT_TYPE)
        reply.headers.setdefault("Cache-Control", "no-store, no-cache")
        recorded.status = None if reply.reset else reply.status
        return reply

    def _identity_extension(
        self, method: str, path: str, tenant: str, form: dict[str, str]
    ) -> tuple[Any, ...] | None:
        endpoint = _route_segments(path)[-1]
        if self.identity_handler is not None and method == "POST":
            return self.identity_handler(endpoint, tenant, form)
        if endpoint == "devicecode":
            return 400, identity_error("invalid_request", "AADSTS50059: no directory to sign in to.", 50059)
        return None

    def _tenant_problem(self, tenant: str) -> _Reply | None:
        # A directory serves people, who may sign in without naming their tenant (multi-tenant authorities).
        if tenant == self.tenant_id or (
            self.identity_handler is not None and tenant in ("organizations", "common")
        ):
            return None
        return _Reply(
            400,
            identity_error(
                "invalid_tenant",
                "AADSTS90002: Tenant not found. Check the tenant id in the authority.",
                90002,
            ),
        )

    def _discovery(self, method: str, tenant: str) -> _Reply:
        if method != "GET":
            return _Reply(405, identity_error("invalid_request", "AADSTS900561: Use GET.", 900561))
        problem = self._tenant_problem(tenant)
        if problem is not None:
            return problem
        base = f"{self.base_url}/{tenant}"
        return _Reply(
            200,
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{self.base_url}/oidc/userinfo",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "tid", "ver"],
                "tenant_region_scope": None,
                "cloud_instance_name": "sandbox.invalid",
                "cloud_graph_host_name": "127.0.0.1",
                "msgraph_host": f"127.0.0.1:{self.port}",
            },
        )

    def _token(self, method: str, tenant: str, form: dict[str, str]) -> _Reply:
        if method != "POST":
            return _Reply(405, identity_error("invalid_request", "AADSTS900561: Use POST.", 900561))
        problem = self._tenant_problem(tenant)
        if problem is not None:
            return problem
        if form.get("grant_type") != "client_credentials":
            return _Reply(
                400,
                identity_error(
                    "unsupported_grant_type",
                    "AADSTS70003: The sandbox supports client_credentials only.",
                    70003,
                ),
            )
        if form.get("client_id") != self.client_id:
            return _Reply(
                400,
                identity_error(
                    "unauthorized_client",
                    "AADSTS700016: Application with the given identifier was not found in the directory.",
                    700016,
                ),
            )
        scopes = [
            scope
            for scope in form.get("scope", "").split()
            if scope not in ("openid", "profile", "offline_access")
        ]
        if scopes != [self.scope]:
            return _Reply(
                400,
                identity_error(
                    "invalid_scope",
                    f"AADSTS1002012: The provided value for scope is not valid. Client credential flows must have a "
                    f"scope value with /.default suffixed to the resource identifier ({self.scope}).",
                    1002012,
                ),
            )
        if "client_secret" in form:
            expected = self._client_secret
            if expected is None or not hmac.compare_digest(form["client_secret"].encode(), expected.encode()):
                return _Reply(
                    401,
                    identity_error(
                        "invalid_client", "AADSTS7000215: Invalid client secret provided.", 7000215
                    ),
                )
        elif "client_assertion" in form:
            if form.get("client_assertion_type") != JWT_BEARER:
                return _Reply(
                    400,
                    identity_error(
                        "invalid_request", f"AADSTS50027: client_assertion_type must be {JWT_BEARER}.", 50027
                    ),
                )
            problem_text = self._assertion_problem(form["client_assertion"])
            if problem_text is not None:
                return _Reply(
                    401,
                    identity_error(
                        "invalid_client", f"AADSTS700027: Client assertion {problem_text}.", 700027
                    ),
                )
        else:
            return _Reply(
                401,
                identity_error(
                    "invalid_client",
                    "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the "
                    "'client_credentials' grant type.",
                    7000216,
                ),
            )
        token = self.issue_token()
        return _Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME,
                "access_token": token,
            },
        )

    def _assertion_problem(self, assertion: str) -> str | None:
        """Why a client assertion is unacceptable, in words that never quote it; None when it is good."""
        if self.client_certificate is None:
            return "cannot be used: no certificate is registered for this application"
        return client_assertion_problem(
            assertion,
            certificates=[x509.load_pem_x509_certificate(self.client_certificate.certificate_pem)],
            client_id=self.client_id,
            audience=self.token_endpoint,
        )

    # -- threat submission -------------------------------------------------------------------------------------

    def _create(self, kind: str, body: Any, include_unknown: bool) -> _Reply:
        if not isinstance(body, dict):
            return _Reply(400, graph_error(400, "Empty Payload. JSON content expected."))
        odata_type = body.get("@odata.type") or _DEFAULT_TYPES.get(kind)
        if odata_type is None:
            return _Reply(
                400,
                graph_error(
                    400,
                    "Cannot create an instance of the abstract type emailThreatSubmission; "
                    "send @odata.type #microsoft.graph.security.emailContentThreatSubmission "
                    "or #microsoft.graph.security.emailUrlThreatSubmission.",
                ),
            )
        if odata_type not in _CREATABLE_TYPES[kind]:
            return _Reply(
                400, graph_error(400, f"The type named in @odata.type cannot be created at {kind}.")
            )
        category = body.get("category")
        if category not in SUBMISSION_CATEGORIES:
            return _Reply(400, graph_error(400, "category must be one of notJunk, spam, phishing, malware."))
        required = {
            "emailThreats": (
                "recipientEmailAddress",
                "fileContent" if "Content" in odata_type else "messageUrl",
            ),
            "urlThreats": ("webUrl",),
            "fileThreats": ("fileName", "fileContent"),
        }[kind]
        missing = [name for name in required if not isinstance(body.get(name), str) or not body[name]]
        if missing:
            return _Reply(400, graph_error(400, f"Missing required property: {', '.join(missing)}."))
        facts = _EmailFacts()
        if "fileContent" in required:
            try:
                content = _decode_base64(body["fileContent"])
            except ValueError:
                return _Reply(400, graph_error(400, "fileContent is not valid base64."))
            if kind == "emailThreats":
                facts = _read_email_facts(content)

        decided = dict(self.outcome(_KINDS[kind], body) or {})
        if isinstance(decided.get("result"), dict):
            result = dict(decided.pop("result"))
            extras = decided
        else:
            result = {key: value for key, value in decided.items() if key in _RESULT_KEYS}
            extras = {key: value for key, value in decided.items() if key not in _RESULT_KEYS}

        submission_id = str(uuid.uuid4())
        obj: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/beta/$metadata#security/threatSubmission/{kind}/$entity",
            "@odata.type": odata_type,
            "id": submission_id,
            "createdDateTime": _now_iso(),
            "contentType": _KINDS[kind],
            "category": category,
            "status": "running",
            "source": "administrator",
            "clientSource": "other",
            "createdBy": {"id": self.client_id, "displayName": "phishbot (sandbox)", "email": None},
            "result": {
                "category": None,
                "detail": "underInvestigation",
                "userMailboxSetting": None,
                "detectedUrls": [],
                "detectedFiles": [],
            },
            "adminReview": None,
            "tenantId": self.tenant_id,
        }
        if kind == "emailThreats":
            obj.update(
                {
                    "recipientEmailAddress": body["recipientEmailAddress"],
                    "internetMessageId": facts.internet_message_id,
                    "subject": facts.subject,
                    "sender": facts.sender,
                    "senderIP": None,
                    "receivedDateTime": facts.received,
                    "originalCategory": category,
                    "attackSimulationInfo": None,
                    "tenantAllowOrBlockListAction": _block_action(body.get("tenantAllowOrBlockListAction")),
                }
            )
            if "messageUrl" in body:
                obj["messageUrl"] = body["messageUrl"]
        elif kind == "urlThreats":
            obj["webUrl"] = body["webUrl"]
        else:
            obj["fileName"] = body["fileName"]
        view = self.store_submission(kind, obj, result, extras)
        reply = _Reply(201, self._present(view, include_unknown))
        if include_unknown:
            reply.headers["Preference-Applied"] = PREFER_UNKNOWN_MEMBERS
        return reply

    def store_submission(
        self, kind: str, obj: dict[str, Any], result: dict[str, Any], extras: dict[str, Any]
    ) -> dict[str, Any]:
        """Keep a submission (`obj` with its `id`) that reaches its verdict (`result`, top-level `extras`)
        `verdict_after` seconds from now; returns it as Graph shows it now. Other sandbox modules add submissions
        made elsewhere (an employee's Report button) through here."""
        with self._lock:
            self._sequence += 1
            submission = _Submission(
                seq=self._sequence,
                kind=kind,
                obj=obj,
                due=self.clock() + self.verdict_after,
                result=result,
                extras=extras,
            )
            self._submissions[str(obj["id"])] = submission
            return self._current(submission)

    def edit_submission(
        self, submission_id: str, edit: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any] | None:
        """Change a kept submission in place (`edit(obj)`, after any verdict that is due); None if there is none."""
        with self._lock:
            submission = self._submissions.get(submission_id)
            if submission is None:
                return None
            self._current(submission)
            edit(submission.obj)
            return copy.deepcopy(submission.obj)

    def _current(self, submission: _Submission) -> dict[str, Any]:
        """The submission's object now (moving it to its verdict when due). Caller holds no lock or the lock."""
        with self._lock:
            if not submission.settled and self.clock() >= submission.due:
                self._settle(submission)
            return copy.deepcopy(submission.obj)

    def _settle(self, submission: _Submission) -> None:
        obj = submission.obj
        obj["result"] = {
            "category": None,
            "detail": "none",
            "userMailboxSetting": None,
            "detectedUrls": [],
            "detectedFiles": [],
            **copy.deepcopy(submission.result),
        }
        extras = copy.deepcopy(submission.extras)
        obj["status"] = extras.pop("status", "succeeded")
        obj.update(extras)
        action = obj.get("tenantAllowOrBlockListAction")
        if isinstance(action, dict):
            action["results"] = _block_results(obj, action, self.tenant_block_list)
        submission.settled = True

    @staticmethod
    def _present(obj: dict[str, Any], include_unknown: bool) -> dict[str, Any]:
        return obj if include_unknown else _mask_unknown_members(obj)

    def _get(self, kind: str, submission_id: str, include_unknown: bool) -> _Reply:
        with self._lock:
            submission = self._submissions.get(submission_id)
            if submission is None or submission.kind != kind:
                return _Reply(404, graph_error(404, "The requested submission was not found."))
            view = self._current(submission)
        reply = _Reply(200, self._present(view, include_unknown))
        if include_unknown:
            reply.headers["Preference-Applied"] = PREFER_UNKNOWN_MEMBERS
        return reply

    def _list(self, kind: str, query: dict[str, str], include_unknown: bool) -> _Reply:
        options = {key.lower(): value for key, value in query.items()}
        clauses: list[tuple[str, str]] = []
        created: list[tuple[str, datetime]] = []
        filter_text = options.get("$filter", "")
        if filter_text.strip():
            for clause in re.split(r"\s+and\s+", filter_text.strip()):
                match = _FILTER_CLAUSE.match(clause)
                when = _CREATED_CLAUSE.match(clause)
                if match is not None:
                    clauses.append((match.group(1), match.group(2)))
                elif when is not None and (moment := _parse_datetime(when.group(2))) is not None:
                    created.append((when.group(1), moment))
                else:
                    return _Reply(
                        400,
                        graph_error(
                            400,
                            "Invalid filter clause (the sandbox supports status/category/source eq '...' and"
                            " createdDateTime ge|gt|le|lt <date and time>).",
                        ),
                    )
        try:
            top = int(options.get("$top") or DEFAULT_PAGE_SIZE)
        except ValueError:
            return _Reply(400, graph_error(400, "Invalid $top value."))
        if top < 1:
            return _Reply(400, graph_error(400, "Invalid $top value."))
        top = min(top, MAX_PAGE_SIZE)
        after = 0
        token = options.get("$skiptoken")
        if token:
            try:
                after = int(_b64url_decode(token).decode("ascii").removeprefix("seq:"))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return _Reply(400, graph_error(400, "Invalid $skiptoken."))
        with self._lock:
            matching = []
            for submission in sorted(self._submissions.values(), key=lambda item: item.seq):
                if submission.kind != kind:
                    continue
                view = self._current(submission)
                made = _parse_datetime(view.get("createdDateTime"))
                if all(view.get(name) == value for name, value in clauses) and all(
                    made is not None and _COMPARE[operator](made, moment) for operator, moment in created
                ):
                    matching.append((submission.seq, view))
        remaining = [(seq, view) for seq, view in matching if seq > after]
        page = remaining[:top]
        body: dict[str, Any] = {
            "@odata.context": f"{self.base_url}/beta/$metadata#security/threatSubmission/{kind}"
        }
        if options.get("$count", "").lower() == "true":
            body["@odata.count"] = len(matching)
        body["value"] = [self._present(view, include_unknown) for _, view in page]
        if len(remaining) > top:
            next_token = base64.urlsafe_b64encode(f"seq:{page[-1][0]}".encode()).decode().rstrip("=")
            next_query = {"$top": str(top), "$skiptoken": next_token}
            if filter_text:
                next_query = {"$filter": filter_text, **next_query}
            body["@odata.nextLink"] = f"{self.base_url}/beta/security/threatSubmission/{kind}?" + urlencode(
                next_query, quote_via=quote
            )
        reply = _Reply(200, body)
        if include_unknown:
            reply.headers["Preference-Applied"] = PREFER_UNKNOWN_MEMBERS
        return reply

    # -- JSON batching -----------------------------------------------------------------------------------------

    def _batch(self, version: str, body: Any) -> _Reply:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return _Reply(
                400, graph_error(400, "Invalid batch payload format: 'requests' must be a non-empty array.")
            )
        if len(requests) > MAX_BATCH_REQUESTS:
            return _Reply(
                400,
                graph_error(400, f"The number of batch requests exceeds the limit of {MAX_BATCH_REQUESTS}."),
            )
        ids: list[str] = []
        for item in requests:
            if not (
                isinstance(item, dict)
                and isinstance(item.get("id"), str)
                and item["id"]
                and isinstance(item.get("method"), str)
                and isinstance(item.get("url"), str)
            ):
                return _Reply(
                    400, graph_error(400, "Invalid batch payload format: each request needs id, method, url.")
                )
            if item["id"] in ids:
                return _Reply(400, graph_error(400, "Batch request contains duplicate Id."))
            depends_on = item.get("dependsOn") or []
            if not isinstance(depends_on, list) or any(dep not in ids for dep in depends_on):
                return _Reply(
                    400, graph_error(400, "dependsOn must name ids of earlier requests in the batch.")
                )
            ids.append(item["id"])
        with self._lock:
            self.batch_count += 1
            self.batch_inner_count += len(requests)
            seed = self.batch_count
        statuses: dict[str, int] = {}
        responses: list[dict[str, Any]] = []
        for item in requests:
            failed = [dep for dep in item.get("dependsOn") or [] if statuses.get(dep, 200) >= 400]
            if failed:
                reply = _Reply(424, graph_error(424, "A request this request depends on failed."))
            else:
                reply = self._inner(version, item)
            statuses[item["id"]] = reply.status
            responses.append(_inner_response(item["id"], reply))
        # Graph answers in any order; a deterministic shuffle keeps tests repeatable while punishing clients
        # that match responses by position instead of by id.
        original = [response["id"] for response in responses]
        random.Random(seed).shuffle(responses)
        if len(responses) > 1 and [response["id"] for response in responses] == original:
            responses.reverse()
        return _Reply(200, {"responses": responses})

    def _inner(self, version: str, item: dict[str, Any]) -> _Reply:
        method = item["method"].upper()
        url = item["url"]
        raw_headers = item.get("headers") or {}
        headers = (
            {str(k).lower(): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, dict) else {}
        )
        body = item.get("body")
        if url.lower().startswith(("http://", "https://")):
            recorded = RecordedRequest(method, url, {}, headers, body, in_batch=True, batch_id=item["id"])
            self._record(recorded)
            recorded.status = 400
            return _Reply(
                400, graph_error(400, "Batch request URLs must be relative to the batch's version.")
            )
        split = urlsplit(url if url.startswith("/") else "/" + url)
        path = f"/{version}{unquote(split.path)}"
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        recorded = RecordedRequest(
            method, path, query, _redact_headers(headers), body, in_batch=True, batch_id=item["id"]
        )
        self._record(recorded)
        reply = self._inner_reply(method, path, query, headers, body, raw_headers)
        recorded.status = reply.status
        return reply

    def _inner_reply(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: Any,
        raw_headers: Any,
    ) -> _Reply:
        fault = self._take_fault(method, path, in_batch=True)
        if fault is not None:
            return self._fault_reply(fault, identity=False)
        if not isinstance(raw_headers, dict):
            return _Reply(400, graph_error(400, "headers must be an object."))
        if body is not None and "content-type" not in headers:
            return _Reply(
                400, graph_error(400, "Content-Type header must be specified when a body is present.")
            )
        invalid = self._validate(method, path, body)
        if invalid is not None:
            return invalid
        return self._dispatch(method, path, query, headers, body, in_batch=True)


# --- module helpers that need the types above ------------------------------------------------------------------


def _redact_headers(headers: dict[str, str]) -> dict[str, str]:
    redacted = dict(headers)
    if "authorization" in redacted:
        scheme = redacted["authorization"].strip().partition(" ")[0]
        redacted["authorization"] = f"{scheme} ***" if scheme else "***"
    return redacted


def _redact_form(form: dict[str, str] | None) -> dict[str, str] | None:
    if form is None:
        return None
    return {
        key: (
            "***"
            if key in ("client_secret", "client_assertion", "device_code", "code", "refresh_token")
            else value
        )
        for key, value in form.items()
    }


def _custom_reply(answer: tuple[Any, ...]) -> _Reply:
    status, body, *rest = answer
    headers = dict(rest[0]) if rest else {}
    return _Reply(int(status), body, headers)


def _inner_response(request_id: str, reply: _Reply) -> dict[str, Any]:
    headers = {name: value for name, value in reply.headers.items() if name.lower() != "content-type"}
    response: dict[str, Any] = {"id": request_id, "status": reply.status, "headers": headers}
    if isinstance(reply.body, bytes):
        # An injected raw body cannot be embedded as JSON; it arrives as a string, as a broken service's would.
        response["headers"]["Content-Type"] = "application/json"
        response["body"] = reply.body.decode("utf-8", errors="replace")
    elif reply.body is not None:
        response["headers"]["Content-Type"] = "application/json"
        response["body"] = reply.body
    return response


def _block_action(action: Any) -> dict[str, Any] | None:
    if not isinstance(action, dict):
        return None
    return {
        "action": action.get("action"),
        "expirationDateTime": action.get("expirationDateTime"),
        "note": action.get("note"),
        "results": [],
    }


def _block_results(
    obj: dict[str, Any], action: dict[str, Any], existing: set[tuple[str, str]]
) -> list[dict[str, Any]]:
    """The Tenant Allow/Block List entries Microsoft reports for a submission with an allow/block action: an
    entry already on the tenant's list (`existing`: entry type, lower-case value) is `skipped`, as Microsoft
    skips a duplicate; a new one `succeeded` and is added to the list."""
    entries: list[tuple[str, str]] = []
    if obj.get("sender"):
        entries.append(("sender", str(obj["sender"])))
    entries.extend(("url", str(host)) for host in obj["result"].get("detectedUrls") or [])
    entries.extend(
        ("fileHash", str(item.get("fileHash")))
        for item in obj["result"].get("detectedFiles") or []
        if isinstance(item, dict) and item.get("fileHash")
    )
    results = []
    for entry_type, value in entries:
        key = (entry_type, value.lower())
        status = "skipped" if key in existing else "succeeded"
        existing.add(key)
        results.append(
            {
                "identity": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{obj['id']}:{entry_type}:{value}")),
                "value": value,
                "entryType": entry_type,
                "expirationDateTime": action.get("expirationDateTime"),
                "status": status,
            }
        )
    return results


# --- mailbox $filter: the few clauses the bot sends, parsed strictly (values are attacker text) ----------------

_FILTER_FIELDS = {
    "receivedDateTime": "datetime",
    "subject": "string",
    "from/emailAddress/address": "string",
    "internetMessageId": "string",
    "isDraft": "bool",
}
_FILTER_OPERATORS = {
    "datetime": ("eq", "ne", "ge", "gt", "le", "lt"),
    "string": ("eq", "ne"),
    "bool": ("eq", "ne"),
}
_FILTER_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:\d{2})")


def parse_message_filter(text: str) -> list[tuple[str, str, Any]]:
    """`field op value [and field op value]...` -> [(field, op, value)]. Raises ValueError on anything else:
    an unknown field or operator, an unterminated or wrongly escaped string literal, text after a value."""
    clauses: list[tuple[str, str, Any]] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = re.compile(r"([A-Za-z/]+) (eq|ne|ge|gt|le|lt) ").match(text, position)
        if match is None:
            raise ValueError(f"expected 'field operator value' at character {position}")
        field_name, operator = match.group(1), match.group(2)
        kind = _FILTER_FIELDS.get(field_name)
        if kind is None:
            raise ValueError(f"the sandbox cannot filter on {field_name!r}")
        if operator not in _FILTER_OPERATORS[kind]:
            raise ValueError(f"{operator} is not supported for {field_name}")
        position = match.end()
        if kind == "string":
            if text[position : position + 1] != "'":
                raise ValueError(f"{field_name} takes a quoted string")
            position += 1
            value_chars: list[str] = []
            while True:
                if position >= len(text):
                    raise ValueError("unterminated string literal")
                char = text[position]
                if char == "'":
                    if text[position + 1 : position + 2] == "'":
                        value_chars.append("'")
                        position += 2
                        continue
                    position += 1
                    break
                value_chars.append(char)
                position += 1
            value: Any = "".join(value_chars)
        elif kind == "datetime":
            literal = _FILTER_DATETIME.match(text, position)
            if literal is None:
                raise ValueError(f"{field_name} takes a date and time like 2026-11-24T09:14:00Z")
            value = datetime.fromisoformat(literal.group().replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            position = literal.end()
        else:
            literal = re.compile(r"true|false").match(text, position)
            if literal is None:
                raise ValueError(f"{field_name} takes true or false")
            value = literal.group() == "true"
            position = literal.end()
        clauses.append((field_name, operator, value))
        if position < len(text):
            joiner = re.compile(r" and ").match(text, position)
            if joiner is None:
                raise ValueError(f"expected ' and ' at character {position}")
            position = joiner.end()
            if position >= len(text):
                raise ValueError("a clause must follow 'and'")
    return clauses


def _message_matches(message: _MailboxMessage, clause: tuple[str, str, Any]) -> bool:
    field_name, operator, wanted = clause
    actual: Any = {
        "receivedDateTime": message.received,
        "subject": message.subject,
        "from/emailAddress/address": message.sender_address,
        "internetMessageId": message.internet_message_id or "",
        "isDraft": message.is_draft,
    }[field_name]
    if isinstance(wanted, str):
        # Exchange compares strings without regard to case.
        actual, wanted = str(actual).casefold(), wanted.casefold()
    return {
        "eq": actual == wanted,
        "ne": actual != wanted,
        "ge": actual >= wanted,
        "gt": actual > wanted,
        "le": actual <= wanted,
        "lt": actual < wanted,
    }[operator]


def _message_resource(message: _MailboxMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "subject": message.subject,
        "from": {"emailAddress": {"name": message.sender_name, "address": message.sender_address}},
        "receivedDateTime": message.received.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "internetMessageId": message.internet_message_id,
        "isDraft": message.is_draft,
        "parentFolderId": message.folder,
    }


def _select(resource: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return resource
    wanted = {name.strip() for name in select.split(",") if name.strip()}
    return {key: value for key, value in resource.items() if key in wanted or key == "id"}
