"""Threat submissions (``/beta/security/threatSubmission``): sending an email, a URL or a file to Microsoft
for analysis, and reading the verdicts back, one by one or 20 to a ``$batch``; listing the submissions employees
made with Outlook's Report button (`source eq 'user'`), reviewing them (Mark as … and notify), and the
organisation's user-reported settings.

The Tenant Allow/Block List is reached through here too: Graph's only way to block what a phish carries is an
email submission with a ``tenantAllowOrBlockListAction`` (`submit_email(block_until=...)`).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bot.microsoft.batch import BatchCall
from bot.microsoft.errors import MAX_TEXT, GraphError
from bot.microsoft.transport import PREFER_UNKNOWN_ENUMS, GraphTransport, path_segment

SUBMISSION_CATEGORIES = frozenset({"phishing", "malware", "spam", "notJunk"})
# `review` takes its own words for the categories: "The email is being reported as notSpam, junk, phishing,
# malware. Case insensitive." (learn.microsoft.com/graph/api/security-emailthreatsubmission-review, beta).
REVIEW_CATEGORIES = {"phishing": "phishing", "malware": "malware", "spam": "junk", "notJunk": "notSpam"}
# A page of a listing: Graph documents `$top` for threat submissions without a maximum; 100 is what the docs'
# examples of other security lists use.
PAGE_SIZE = 100

_THREAT_SUBMISSION = "/security/threatSubmission"
_COLLECTIONS = {"email": "emailThreats", "url": "urlThreats", "file": "fileThreats"}
_SUBMIT_PERMISSION = "ThreatSubmission.ReadWrite.All"
_READ_PERMISSION = "ThreatSubmission.Read.All"


class ThreatSubmissions:
    """The threat-submission endpoints of GraphClient."""

    _transport: GraphTransport

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
        body: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.security.emailContentThreatSubmission",
            "category": _category(category),
            "recipientEmailAddress": recipient.strip(),
            "fileContent": base64.b64encode(raw_mime).decode("ascii"),
        }
        if block_until is not None:
            body["tenantAllowOrBlockListAction"] = {
                "action": "block",
                "expirationDateTime": block_until.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "note": (block_note or "")[: MAX_TEXT * 3],
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
        return self._transport.send(
            "POST", path, json=body, label=f"POST {path}", permission=_SUBMIT_PERMISSION
        )

    def get_submission(self, kind: str, submission_id: str) -> dict:
        collection = _collection(kind)
        path = f"/beta{_THREAT_SUBMISSION}/{collection}/{path_segment(submission_id)}"
        label = f"GET /beta{_THREAT_SUBMISSION}/{collection}/{{id}}"
        return self._transport.send("GET", path, label=label, permission=_READ_PERMISSION)

    def submissions_created_since(
        self, kind: str, since: datetime, *, max_pages: int = 5, page_size: int = PAGE_SIZE
    ) -> list[dict]:
        """Submissions of `kind` created at or after `since` (the documented `createdDateTime ge` filter), at most
        `max_pages` pages: where to look for what a send whose answer never arrived may have created."""
        found, _ = self._list(kind, f"createdDateTime ge {_odata_time(since)}", max_pages, page_size)
        return found

    def user_reported_since(
        self, since: datetime, *, max_pages: int = 50, page_size: int = PAGE_SIZE
    ) -> tuple[list[dict], bool]:
        """The email submissions employees made themselves (the Report button: `source eq 'user'`) created at or
        after `since`, and whether that is all of them (False: `max_pages` pages were read and more remain)."""
        wanted = f"source eq 'user' and createdDateTime ge {_odata_time(since)}"
        return self._list("email", wanted, max_pages, page_size)

    def _list(self, kind: str, odata_filter: str, max_pages: int, page_size: int) -> tuple[list[dict], bool]:
        path = f"/beta{_THREAT_SUBMISSION}/{_collection(kind)}"
        params = {"$filter": odata_filter, "$top": str(page_size)}
        return self._transport.collect_pages(
            path, params, label=f"GET {path}", permission=_READ_PERMISSION, max_pages=max_pages
        )

    def review_submission(self, submission_id: str, category: str) -> None:
        """Mark an employee's own submission as `category` (a submissionCategory: phishing, malware, spam,
        notJunk), as the Defender portal's "Mark as and notify" does: Microsoft tells the reporter. Answers 204."""
        if category not in REVIEW_CATEGORIES:
            raise ValueError(f"category must be one of {sorted(REVIEW_CATEGORIES)}, not {category!r}")
        path = f"/beta{_THREAT_SUBMISSION}/emailThreats/{path_segment(submission_id)}/review"
        self._transport.send(
            "POST",
            path,
            json={"category": REVIEW_CATEGORIES[category]},
            label=f"POST /beta{_THREAT_SUBMISSION}/emailThreats/{{id}}/review",
            permission=_SUBMIT_PERMISSION,
        )

    def user_reported_settings(self) -> dict | None:
        """The organisation's user-reported settings (what the Report button does with a report), or None when
        it has none."""
        path = f"/beta{_THREAT_SUBMISSION}/emailThreatSubmissionPolicies"
        page = self._transport.send("GET", path, label=f"GET {path}", permission=_READ_PERMISSION)
        return next((item for item in page.get("value") or [] if isinstance(item, dict)), None)

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
                    url=f"{_THREAT_SUBMISSION}/{collection}/{path_segment(submission_id)}",
                    headers={"Prefer": PREFER_UNKNOWN_ENUMS},
                    operation=f"GET submission {submission_id} in $batch",
                    not_found=f"Microsoft Graph has no submission {submission_id} (404)",
                ),
            )
        return self._transport.batch(list(calls.values()), version="beta", permission=_READ_PERMISSION)

    def probe(self) -> None:
        """One small Graph read (a page of one email submission); raises GraphError when it fails."""
        path = f"/beta{_THREAT_SUBMISSION}/emailThreats"
        self._transport.send(
            "GET", path, params={"$top": "1"}, label=f"GET {path}", permission=_READ_PERMISSION
        )


def _odata_time(moment: datetime) -> str:
    """A DateTimeOffset literal for $filter (unquoted, UTC, whole seconds as the docs write it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
