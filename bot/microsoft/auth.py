"""The app's access token: Microsoft Entra through MSAL (client credentials), with a secret or a certificate.

MSAL builds its application on first use (its constructor reads the tenant's OpenID configuration), keeps the
token cache, and talks HTTP through `IdentityHttp`, an httpx client configured like Graph's own. Passing
failures of the identity service are retried here, under the same `RetryPolicy` as Graph calls; permanent
ones become an AuthError that names the setting to check. No token, secret or private key ever reaches a
log line, an error message or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import msal  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from msal.exceptions import MsalServiceError  # type: ignore[import-untyped]

from bot.microsoft.errors import AuthError, describe_transport_error, short
from bot.microsoft.retry import RETRYABLE_TRANSPORT_ERRORS, RetryPolicy

logger = logging.getLogger(__name__)

Report = Callable[[str, int | None, float], None]  # (request label, HTTP status or None, seconds)

AADSTS = re.compile(r"\bAADSTS\d+\b")

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


class TokenSource(Protocol):
    """What GraphTransport asks for a bearer token: the app's (`AppToken`) or a signed-in admin's
    (`bot.microsoft.device_code.AdminToken`, for `phishbot setup microsoft`)."""

    def get(self) -> str: ...

    def forget(self, rejected: str) -> None: ...


def with_identity_retries(
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    attempt_once: Callable[[], tuple[Any, str | None]],
    failure: str,
    hint: str,
) -> Any:
    """The identity side of the retry policy, the one loop for every request to the identity service:
    `attempt_once` returns (value, None), or (None, a passing problem) to be retried with the policy's back-off,
    or raises for a permanent one."""
    attempt = 0
    while True:
        attempt += 1
        value, problem = attempt_once()
        if problem is None:
            return value
        if attempt >= retry.max_attempts:
            raise AuthError(
                f"{failure} after {attempt} attempts: {problem} ({hint})",
                retryable=True,
                operation="token",
            )
        sleep(retry.delay(attempt, None))


class AppToken:
    """The app's Graph access token. Thread-safe: threads asking together make one token request."""

    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str | None,
        client_certificate_pem: bytes | None,
        authority_host: str,
        graph_url: str,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        report: Report,
        http_client: Callable[[], httpx.Client],
    ) -> None:
        if not tenant_id or not client_id:
            raise AuthError("MS_TENANT_ID and MS_CLIENT_ID must both be set")
        if bool(client_secret) == bool(client_certificate_pem):
            raise AuthError("set exactly one of MS_CLIENT_SECRET or MS_CLIENT_CERTIFICATE")
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._scopes = [f"{graph_url.rstrip('/')}/.default"]
        self._credential_setting = "MS_CLIENT_SECRET" if client_secret else "MS_CLIENT_CERTIFICATE"
        # Parsing the PEM is CPU only, and doing it here turns a bad file into a start-up error.
        self._credential = _Credential(
            client_secret if client_secret else _certificate_credential(client_certificate_pem or b"")
        )
        self._retry = retry
        self._sleep = sleep
        self._report = report
        self._http_client = http_client
        self._app: Any = None  # msal.ConfidentialClientApplication, built on first use
        self._identity_http: IdentityHttp | None = None
        self._app_lock = threading.Lock()
        self._token_lock = threading.Lock()
        self._token_digest: str | None = None  # which token is current, without keeping a second copy of it

    def roles(self) -> frozenset[str]:
        """The `roles` claim of the current token, read without checking its signature (a diagnostic)."""
        return frozenset(_token_roles(self.get()))

    def close(self) -> None:
        if self._identity_http is not None:
            self._identity_http.close()

    def get(self) -> str:
        """A valid access token, from MSAL's cache or a new token request. Raises AuthError."""
        with self._token_lock:
            # Serialized so that threads starting together make one token request, not one each.
            app = self._msal_app()

            def attempt_once() -> tuple[str | None, str | None]:
                try:
                    result = app.acquire_token_for_client(scopes=self._scopes)
                except RETRYABLE_TRANSPORT_ERRORS as exc:
                    return None, describe_transport_error(exc, self._retry.timeout)
                except json.JSONDecodeError:
                    return None, "the token endpoint's answer is not JSON"
                except ValueError as exc:
                    raise self._auth_error_from_exception(exc) from None
                except (MsalServiceError, RuntimeError) as exc:  # MSAL's way of saying "HTTP 5xx"
                    return None, short(str(exc)) or type(exc).__name__
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
        return with_identity_retries(self._retry, self._sleep, attempt_once, failure, hint)

    def forget(self, rejected: str) -> None:
        """Drop `rejected` from the cache (Graph answered 401 for it), so the next `get` asks Entra again."""
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
                self._identity_http = IdentityHttp(self._http_client(), self._report, self._retry.timeout)

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
                except RETRYABLE_TRANSPORT_ERRORS as exc:
                    return None, describe_transport_error(exc, self._retry.timeout)
                except ValueError as exc:
                    if isinstance(exc, json.JSONDecodeError):
                        return None, "its OpenID configuration is not JSON"
                    raise self._auth_error_from_exception(exc) from None
                except (MsalServiceError, RuntimeError) as exc:  # 5xx during discovery
                    return None, short(str(exc)) or type(exc).__name__
                return app, None

            self._app = self._with_identity_retries(
                attempt_once,
                f"could not read the identity configuration of {self._authority}",
                "check MS_AUTHORITY_HOST and MS_TENANT_ID",
            )
            return self._app

    def _auth_error_from_result(self, result: dict) -> AuthError:
        error = short(str(result.get("error") or "unknown_error"))
        raw_description = str(result.get("error_description") or "")
        description = self._credential.scrub(raw_description)
        aadsts = AADSTS.search(raw_description)
        code = aadsts.group(0) if aadsts else None
        setting = _AADSTS_SETTING.get(code or "")
        if setting is None:
            setting = {
                "invalid_client": f"{self._credential_setting} and MS_CLIENT_ID",
                "unauthorized_client": "MS_CLIENT_ID and MS_TENANT_ID",
                "invalid_scope": "GRAPH_URL",
                "invalid_resource": "GRAPH_URL",
            }.get(error, f"MS_TENANT_ID, MS_CLIENT_ID and {self._credential_setting}")
        first_line = short(description.splitlines()[0] if description else "")
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
        aadsts = AADSTS.search(raw)
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
            f"MSAL could not use the configured credential: {short(self._credential.scrub(str(exc)))}; "
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


class IdentityHttp:
    """MSAL's http_client contract (msal/oauth2cli/http.py: post/get returning status_code, text, headers)
    on an httpx client. Not requests: with requests, REQUESTS_CA_BUNDLE in the environment silently wins
    over the CA we configure. MSAL leaves retries to its http_client; the token path retries in
    AppToken.get with the same policy as Graph calls."""

    def __init__(self, client: httpx.Client, report: Report, timeout: float) -> None:
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
    leaf = next((cert for cert in certificates if _rsa_public_numbers(cert) == public_numbers), None)
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


def _rsa_public_numbers(certificate: x509.Certificate) -> rsa.RSAPublicNumbers | None:
    public_key = certificate.public_key()
    return public_key.public_numbers() if isinstance(public_key, rsa.RSAPublicKey) else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
