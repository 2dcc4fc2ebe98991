"""The employees' Report button (Outlook, Teams), for the loopback Graph emulator (demo, tests, bench).

`ReportButton().attach(graph_emulator)` adds what Microsoft does when an employee presses Report on a message, and
the Graph calls around it, through the emulator's `add_route` (so its token check, request validation, `fail_next`
and `$batch` apply unchanged):

* `press(mailbox, mime, category=...)` makes a **user-reported submission**: an `emailThreatSubmission` with
  `source: user`, `createdBy` the employee, `recipientEmailAddress` their mailbox, the message's Internet-Message-ID,
  subject, sender and date, kept with the admin submissions (`GraphEmulator.store_submission`), so the emulator's
  own list (`$filter` on `source` and `createdDateTime`, `$top`, `@odata.nextLink`), get and `$batch` serve it.
  It is **analysed like the others** (`emulator.outcome`, after `verdict_after`) when the user-reported settings
  send reports to Microsoft (`to_microsoft`, the default); otherwise its result is `notSubmittedToMicrosoft` /
  `checkUserReportedSettings`. The message is put in the employee's mailbox too (when not there already), where
  phishbot can read it back with Mail.Read.
* `POST /beta/security/threatSubmission/emailThreats/{id}/review` `{"category": …}`: the admin's "Mark as and
  notify". The category is one of the documented words (notSpam, junk, phishing, malware; case-insensitive),
  only a user-reported submission can be reviewed (400 otherwise), and the answer is `204 No Content`. The review
  shows in the submission's `adminReview`; `reviews` records each (submission id, category as sent) in order.
* `GET /beta/security/threatSubmission/emailThreatSubmissionPolicies`: the user-reported settings, with
  `isReportToMicrosoftEnabled` = `to_microsoft`.

Permissions as Graph checks them, from the emulator's `granted_roles`: listing (any email submission list),
reading the settings needs ThreatSubmission.Read.All or ThreatSubmission.ReadWrite.All; `review` needs
ThreatSubmission.ReadWrite.All. A missing one is a 403, as Graph answers.
"""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.sandbox.graph_emulator import (
    GraphEmulator,
    RecordedRequest,
    email_headline,
    graph_error,
)

READ_ROLES = frozenset({"ThreatSubmission.Read.All", "ThreatSubmission.ReadWrite.All"})
REVIEW_ROLES = frozenset({"ThreatSubmission.ReadWrite.All"})
SETTINGS_ROLES = READ_ROLES | {"ThreatSubmissionPolicy.ReadWrite.All"}
# The words `review` documents, and the submissionResultCategory each leaves in adminReview.reviewResult.
REVIEW_RESULTS = {"notspam": "notJunk", "junk": "spam", "phishing": "phishing", "malware": "malware"}
_SUBMISSIONS = "/beta/security/threatSubmission"
_NOT_SENT = {"category": "notSubmittedToMicrosoft", "detail": "checkUserReportedSettings"}


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class ReportButton:
    """The Report button of an organisation's mail clients. Thread-safe; every public method may be called from
    a test. `to_microsoft`: the user-reported settings send reports to Microsoft (and so they are analysed)."""

    to_microsoft: bool = True
    reviewer: str = (
        "phishbot@sandbox"  # who adminReview.reviewBy names (the app's identity, for app-only calls)
    )
    reviews: list[tuple[str, str]] = field(default_factory=list)
    pressed: list[str] = field(default_factory=list)  # submission ids, in order

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._emulator: GraphEmulator | None = None

    # -- wiring ------------------------------------------------------------------------------------------------

    def attach(self, emulator: GraphEmulator) -> ReportButton:
        self._emulator = emulator
        emulator.add_route(f"GET {_SUBMISSIONS}/emailThreats", self._list)
        for action in ("review", "microsoft.graph.security.review"):
            emulator.add_route(f"POST {_SUBMISSIONS}/emailThreats/{{id}}/{action}", self._review)
        emulator.add_route(f"GET {_SUBMISSIONS}/emailThreatSubmissionPolicies", self._settings)
        return self

    @property
    def emulator(self) -> GraphEmulator:
        if self._emulator is None:
            raise RuntimeError("attach the Report button to a GraphEmulator first")
        return self._emulator

    # -- what employees do -------------------------------------------------------------------------------------

    def press(
        self,
        mailbox: str,
        mime: bytes,
        *,
        category: str = "phishing",
        reporter: str | None = None,
        in_mailbox: bool = True,
    ) -> str:
        """An employee reports `mime`, a message in `mailbox`, with the Report button; returns the submission id.
        `reporter`: who pressed it (the mailbox's owner by default); `in_mailbox=False` leaves the message out of
        the mailbox (it was deleted since)."""
        emulator = self.emulator
        headline = email_headline(mime)
        owner = (reporter or mailbox).strip().lower()
        message_id = next(
            (
                str(m["id"])
                for m in emulator.mailbox(mailbox)
                if m.get("internetMessageId") == headline["internetMessageId"]
            ),
            None,
        )
        if message_id is None:
            message_id = emulator.add_mailbox_message(mailbox, mime) if in_mailbox else uuid.uuid4().hex
        submission_id = str(uuid.uuid4())
        obj: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.security.emailUrlThreatSubmission",
            "id": submission_id,
            "createdDateTime": _now_iso(),
            "contentType": "email",
            "category": category,
            "status": "running",
            "source": "user",
            "clientSource": "microsoft",
            "createdBy": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, owner)),
                "displayName": owner,
                "email": owner,
            },
            "result": {
                "category": None,
                "detail": "underInvestigation" if self.to_microsoft else "none",
                "userMailboxSetting": None,
                "detectedUrls": [],
                "detectedFiles": [],
            },
            "adminReview": None,
            "tenantId": emulator.tenant_id,
            "recipientEmailAddress": mailbox.strip().lower(),
            "internetMessageId": headline["internetMessageId"],
            "subject": headline["subject"],
            "sender": headline["sender"],
            "senderIP": "203.0.113.7",
            "receivedDateTime": headline["receivedDateTime"],
            "originalCategory": category,
            "attackSimulationInfo": None,
            "tenantAllowOrBlockListAction": None,
            "messageUrl": f"{emulator.base_url}/beta/users/{mailbox.strip().lower()}/messages/{message_id}",
        }
        if self.to_microsoft:
            body = {
                "recipientEmailAddress": obj["recipientEmailAddress"],
                "category": category,
                "fileContent": base64.b64encode(mime).decode("ascii"),
            }
            decided = dict(emulator.outcome("email", body) or {})
            result = dict(decided.pop("result")) if isinstance(decided.get("result"), dict) else {}
            if not result:
                keys = {"category", "detail", "detectedFiles", "detectedUrls", "userMailboxSetting"}
                result = {key: value for key, value in decided.items() if key in keys}
                decided = {key: value for key, value in decided.items() if key not in keys}
            emulator.store_submission("emailThreats", obj, result, decided)
        else:
            emulator.store_submission("emailThreats", obj, dict(_NOT_SENT), {})
        with self._lock:
            self.pressed.append(submission_id)
        return submission_id

    # -- routes ------------------------------------------------------------------------------------------------

    def _allowed(self, roles: frozenset[str]) -> bool:
        return bool(roles & set(self.emulator.granted_roles))

    def _forbidden(self, needed: str) -> tuple[int, dict[str, Any]]:
        return 403, graph_error(
            403, f"Missing role permissions on the request. API requires {needed}.", "Forbidden"
        )

    def _list(self, request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        if not self._allowed(READ_ROLES):
            return self._forbidden("ThreatSubmission.Read.All")
        return None  # the emulator's own list answers

    def _review(self, request: RecordedRequest) -> tuple[Any, ...]:
        if not self._allowed(REVIEW_ROLES):
            return self._forbidden("ThreatSubmission.ReadWrite.All")
        submission_id = request.path.rstrip("/").split("/")[-2]
        body = request.body if isinstance(request.body, dict) else {}
        given = body.get("category")
        result = REVIEW_RESULTS.get(given.strip().lower()) if isinstance(given, str) else None
        if result is None:
            return 400, graph_error(
                400,
                "category must be one of notSpam, junk, phishing, malware (case insensitive).",
                "BadRequest",
            )
        current = self.emulator.submissions.get(submission_id)
        if current is None or current.get("contentType") != "email":  # a URL or file submission is not here
            return 404, graph_error(404, "The requested submission was not found.", "ResourceNotFound")
        if current.get("source") != "user":
            return 400, graph_error(
                400, "Only email threat submissions made by end users can be reviewed.", "BadRequest"
            )

        def mark(obj: dict[str, Any]) -> None:
            obj["adminReview"] = {
                "reviewBy": self.reviewer,
                "reviewDateTime": _now_iso(),
                "reviewResult": result,
            }

        self.emulator.edit_submission(submission_id, mark)
        with self._lock:
            self.reviews.append((submission_id, str(given)))
        return 204, None

    def _settings(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if not self._allowed(SETTINGS_ROLES):
            return self._forbidden("ThreatSubmission.Read.All")
        policy = {
            "id": "DefaultReportSubmissionPolicy",
            "customizedNotificationSenderEmailAddress": "",
            "customizedReportRecipientEmailAddress": ""
            if self.to_microsoft
            else "soc-reports@contoso.example",
            "isAlwaysReportEnabledForUsers": True,
            "isAskMeEnabledForUsers": False,
            "isCustomizedMessageEnabled": False,
            "isCustomizedMessageEnabledForPhishing": False,
            "isCustomizedNotificationSenderEnabled": False,
            "isNeverReportEnabledForUsers": False,
            "isOrganizationBrandingEnabled": False,
            "isReportFromQuarantineEnabled": True,
            "isReportToCustomizedEmailAddressEnabled": not self.to_microsoft,
            "isReportToMicrosoftEnabled": self.to_microsoft,
            "isReviewEmailNotificationEnabled": True,
        }
        return 200, {
            "@odata.context": f"{self.emulator.base_url}/beta/$metadata#security/threatSubmission/"
            "emailThreatSubmissionPolicies",
            "value": [policy],
        }
