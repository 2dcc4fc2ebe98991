"""Microsoft Defender XDR through Graph: advanced hunting queries (``/security/runHuntingQuery``) and the
remediation of analyzed emails (``/security/collaboration/analyzedEmails/remediate``).

The KQL itself is built in bot.microsoft.hunting, every attacker-written value escaped there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.microsoft.errors import MAX_TEXT, GraphError
from bot.microsoft.transport import GraphTransport

_HUNTING_PERMISSION = "ThreatHunting.Read.All"
_REMEDIATE_PERMISSION = "SecurityAnalyzedMessage.ReadWrite.All"
# Graph remediationAction members the bot sends (moveToQuarantine "isn't currently supported").
REMEDIATION_ACTIONS = frozenset(
    {"softDelete", "hardDelete", "moveToJunk", "moveToDeletedItems", "moveToInbox"}
)


class AdvancedHunting:
    """The advanced-hunting endpoint of GraphClient."""

    _transport: GraphTransport

    def run_hunting_query(self, query: str, *, timespan: str | None = None) -> list[dict]:
        """Run a KQL query (built by bot.microsoft.hunting, every value escaped there) and return its result rows."""
        if not query or not query.strip():
            raise ValueError("query is empty")
        body: dict[str, Any] = {"Query": query}
        if timespan:
            body["Timespan"] = timespan
        path = "/v1.0/security/runHuntingQuery"
        answer = self._transport.send(
            "POST", path, json=body, label=f"POST {path}", permission=_HUNTING_PERMISSION
        )
        rows = answer.get("results")
        if not isinstance(rows, list):
            raise GraphError(
                f"Microsoft Graph answered POST {path} without a 'results' list",
                code="malformedResponse",
                retryable=True,
                operation=f"POST {path}",
            )
        return [row for row in rows if isinstance(row, dict)]


class AnalyzedEmails:
    """The Defender remediation endpoint of GraphClient."""

    _transport: GraphTransport

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
            "displayName": display_name[:MAX_TEXT],
            "description": description[:MAX_TEXT],
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
        self._transport.send(
            "POST",
            path,
            json=body,
            label=f"POST {path}",
            permission=_REMEDIATE_PERMISSION,
            response_headers=headers,
        )
        return headers.get("location")
