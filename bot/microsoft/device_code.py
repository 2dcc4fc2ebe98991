"""An administrator's own Graph token, signed in with the device-code flow: what `phishbot setup microsoft` uses
to register phishbot's app (the bot itself only ever uses its app token, `auth.AppToken`).

MSAL's public client (`PublicClientApplication`) asks the identity service for a code (`initiate_device_flow`),
the person opens the verification page in any browser, enters the code and signs in; meanwhile we ask for the
token once per `interval` (`acquire_token_by_device_flow`, one poll per call) until the sign-in is done,
declined or expired. Each request to the identity service goes through `auth.with_identity_retries`, the one
identity retry loop; the polling itself is the flow's protocol, not a retry. The delegated token is renewed
from MSAL's cache (`acquire_token_silent`) when Graph refuses it. No token or device code is ever printed or
logged; the user code and the page are what the person must see.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import msal  # type: ignore[import-untyped]
from msal.exceptions import MsalServiceError  # type: ignore[import-untyped]

from bot.microsoft.auth import AADSTS, IdentityHttp, Report, with_identity_retries
from bot.microsoft.errors import AuthError, describe_transport_error, short
from bot.microsoft.retry import RETRYABLE_TRANSPORT_ERRORS, RetryPolicy

# Microsoft Graph Command Line Tools (the Microsoft Graph PowerShell SDK's public client): a first-party public
# client present in every tenant, which may ask for Graph's delegated permissions by name. An administrator who
# would rather sign in through an app of their own passes its id (a public client with device code allowed).
GRAPH_COMMAND_LINE_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
_PENDING = frozenset({"authorization_pending", "slow_down"})
_RENEW_BEFORE = 120.0  # seconds before expiry a token is renewed rather than sent


@dataclass(frozen=True)
class DeviceCode:
    """What the person must see to sign in (never the device code itself)."""

    verification_uri: str
    user_code: str
    expires_in: int


@dataclass(frozen=True)
class SignedIn:
    tenant_id: str
    username: str


class AdminToken:
    """A signed-in administrator's delegated Graph token (a `TokenSource` for GraphTransport)."""

    def __init__(
        self,
        *,
        tenant: str,
        client_id: str,
        scopes: Sequence[str],
        authority_host: str,
        graph_url: str,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        http_client: Callable[[], httpx.Client],
        report: Report,
    ) -> None:
        self._authority = f"{authority_host.rstrip('/')}/{tenant}"
        self._client_id = client_id
        # The full form names the resource: GRAPH_URL's host, which is what a national cloud needs.
        self._scopes = [f"{graph_url.rstrip('/')}/{scope}" for scope in scopes]
        self._retry = retry
        self._sleep = sleep
        self._http_client = http_client
        self._report = report
        self._app: Any = None
        self._identity_http: IdentityHttp | None = None
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._stale = False

    def sign_in(self, show: Callable[[DeviceCode], None]) -> SignedIn:
        """Run the device-code flow: `show` tells the person where to go and which code to enter; returns once
        they have signed in. Raises AuthError when the code expires, the sign-in is declined or refused."""
        app = self._msal_app()
        flow = self._identity(
            lambda: app.initiate_device_flow(scopes=self._scopes),
            f"could not start a device-code sign-in at {self._authority}",
        )
        if "user_code" not in flow:
            raise self._refused(flow, "the device-code sign-in could not start")
        show(
            DeviceCode(
                verification_uri=str(flow.get("verification_uri") or flow.get("verification_url") or ""),
                user_code=str(flow["user_code"]),
                expires_in=int(flow.get("expires_in") or 0),
            )
        )
        while True:
            result = self._identity(
                # One poll per call: the waiting between polls is ours, so a test's clock can skip it.
                lambda: app.acquire_token_by_device_flow(flow, exit_condition=lambda _flow: True),
                f"could not complete the sign-in at {self._authority}",
            )
            if "access_token" in result:
                break
            error = result.get("error")
            if error not in _PENDING:
                raise self._refused(result, "the sign-in did not complete")
            if time.time() > float(flow.get("expires_at") or 0):
                raise AuthError(
                    "the code expired before anyone signed in; run the command again", operation="token"
                )
            self._sleep(float(flow.get("interval") or 5))
        self._keep(result)
        claims = result.get("id_token_claims") or {}
        tenant_id = str(claims.get("tid") or "")
        if not tenant_id:
            raise AuthError(
                "the sign-in did not say which tenant it was in (no tid claim)", operation="token"
            )
        return SignedIn(tenant_id=tenant_id, username=str(claims.get("preferred_username") or ""))

    def get(self) -> str:
        with self._lock:
            if self._token is None:
                raise AuthError("nobody has signed in yet", operation="token")
            if self._stale or time.time() > self._expires_at - _RENEW_BEFORE:
                self._renew()
            assert self._token is not None
            return self._token

    def forget(self, rejected: str) -> None:
        with self._lock:
            if rejected == self._token:
                self._stale = True

    def close(self) -> None:
        if self._identity_http is not None:
            self._identity_http.close()

    def __repr__(self) -> str:
        return f"AdminToken(authority={self._authority!r}, signed_in={self._token is not None})"

    # -- inside ------------------------------------------------------------------------------------------------

    def _renew(self) -> None:
        accounts = self._app.get_accounts() if self._app is not None else []
        result = (
            self._identity(
                lambda: self._app.acquire_token_silent(self._scopes, account=accounts[0], force_refresh=True),
                f"could not renew the sign-in at {self._authority}",
            )
            if accounts
            else None
        )
        if not result or "access_token" not in result:
            self._token = None
            raise AuthError(
                "the administrator's sign-in has expired or was revoked; run the command again to sign in",
                operation="token",
            )
        self._keep(result)

    def _keep(self, result: dict) -> None:
        self._token = str(result["access_token"])
        self._expires_at = time.time() + float(result.get("expires_in") or 0)
        self._stale = False

    def _msal_app(self) -> Any:
        if self._app is None:
            if self._identity_http is None:
                self._identity_http = IdentityHttp(self._http_client(), self._report, self._retry.timeout)
            identity_http = self._identity_http
            self._app = self._identity(
                # The constructor reads the authority's OpenID configuration.
                lambda: msal.PublicClientApplication(
                    self._client_id,
                    authority=self._authority,
                    instance_discovery=False,
                    http_client=identity_http,
                ),
                f"could not read the identity configuration of {self._authority}",
            )
        return self._app

    def _identity(self, call: Callable[[], Any], failure: str) -> Any:
        def attempt_once() -> tuple[Any, str | None]:
            try:
                return call(), None
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                return None, describe_transport_error(exc, self._retry.timeout)
            except json.JSONDecodeError:
                return None, "the identity service's answer is not JSON"
            except (MsalServiceError, RuntimeError) as exc:  # MSAL's way of saying "HTTP 5xx"
                return None, short(str(exc)) or type(exc).__name__
            except ValueError as exc:
                raise AuthError(
                    f"{failure}: {short(str(exc))} (check MS_AUTHORITY_HOST and --tenant)", operation="token"
                ) from None

        answer = with_identity_retries(
            self._retry,
            self._sleep,
            attempt_once,
            failure,
            "check MS_AUTHORITY_HOST and the network path to it",
        )
        if isinstance(answer, dict) and answer.get("error") == "temporarily_unavailable":
            raise AuthError(f"{failure}: the identity service is temporarily unavailable", retryable=True)
        return answer

    def _refused(self, result: dict, what: str) -> AuthError:
        error = short(str(result.get("error") or "unknown_error"))
        description = str(result.get("error_description") or "")
        code_match = AADSTS.search(description)
        code = code_match.group(0) if code_match else None
        first_line = short(description.splitlines()[0]) if description else ""
        hint = {
            "authorization_declined": "the person who signed in declined; run the command again",
            "expired_token": "the code expired before anyone signed in; run the command again",
            "code_expired": "the code expired before anyone signed in; run the command again",
            "invalid_client": "check --client-id (a public client that allows the device-code flow)",
            "unauthorized_client": "check --client-id (a public client that allows the device-code flow)",
            "invalid_scope": "check GRAPH_URL: it must be the Graph of MS_AUTHORITY_HOST's cloud",
        }.get(error, "check --tenant, --client-id and MS_AUTHORITY_HOST")
        return AuthError(
            f"{what}: {error}" + (f" ({first_line})" if first_line else "") + f"; {hint}",
            code=code or error,
            operation="token",
        )
