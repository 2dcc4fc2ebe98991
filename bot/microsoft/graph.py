"""The one Microsoft Graph client: what phishbot asks Microsoft, as domain calls.

Callers hold one `GraphClient` and ask for domain things (submit an email, read verdicts, find the copies of
a phish, remediate them) and never build Graph URLs, handle 429s or see a token. It is put together from
`auth.AppToken` (MSAL, its token cache, the secret or certificate), `transport.GraphTransport` (httpx, the
Prefer header, the one retry policy, for single requests and for the inner requests of a ``$batch``) and
one endpoint group per part of Graph: `threat_submissions`, `defender` (advanced hunting, remediation) and
`outlook` (mailboxes).
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable

import httpx

from bot.microsoft.auth import AppToken, Report
from bot.microsoft.defender import AdvancedHunting, AnalyzedEmails
from bot.microsoft.outlook import OutlookMail
from bot.microsoft.retry import RetryPolicy
from bot.microsoft.threat_submissions import ThreatSubmissions
from bot.microsoft.transport import GraphTransport, build_http

logger = logging.getLogger(__name__)

_DEFAULT_RETRY = RetryPolicy()


class GraphClient(ThreatSubmissions, AdvancedHunting, AnalyzedEmails, OutlookMail):
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
        retry: RetryPolicy = _DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[str, int | None, float], None] | None = None,
    ) -> None:
        report = _reporting(on_request)

        def http_client() -> httpx.Client:
            # Graph and the identity service share one configuration: one CA setting, one proxy for both.
            return build_http(verify, proxy, retry.timeout)

        self._token = AppToken(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=client_secret,
            client_certificate_pem=client_certificate_pem,
            authority_host=authority_host,
            graph_url=graph_url,
            retry=retry,
            sleep=sleep,
            report=report,
            http_client=http_client,
        )
        self._transport = GraphTransport(
            graph_url=graph_url,
            token=self._token,
            http=http_client(),
            retry=retry,
            sleep=sleep,
            report=report,
        )

    def granted_roles(self) -> frozenset[str]:
        """The application permissions admin consent granted: the `roles` claim of the current access token.

        Read without checking the token's signature — a diagnostic; Graph checks the token on every call. Raises
        AuthError when no token can be obtained. The token itself never leaves this client."""
        return self._token.roles()

    def close(self) -> None:
        self._transport.close()
        self._token.close()

    def __enter__(self) -> GraphClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _reporting(on_request: Callable[[str, int | None, float], None] | None) -> Report:
    """The `on_request` hook (metrics) wrapped so that it can never fail a Graph call."""

    def report(label: str, status: int | None, seconds: float) -> None:
        if on_request is None:
            return
        try:
            on_request(label, status, seconds)
        except Exception:  # a metrics callback must never fail a Graph call
            logger.exception("on_request callback failed")

    return report
