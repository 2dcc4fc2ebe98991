"""`phishbot doctor`: everything a first deployment gets wrong, checked against the real services, one line each.

✓ works; ✗ something phishbot needs is missing (each with the fix; exit code 1); ! works, but a feature is off
(exit code 0). Nothing printed is a secret: tokens and keys are only said to be set, Slack errors are Slack's
error codes, Microsoft errors are the Graph client's own scrubbed messages.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.config import Settings

if TYPE_CHECKING:
    from bot.microsoft import GraphClient

OK, FAIL, OFF = "✓", "✗", "!"

# The bot token scopes manifest.yml asks for, and what each is for (a test keeps the two lists equal).
SCOPES: dict[str, str] = {
    "commands": "the /report-phish command",
    "chat:write": "the case card, acknowledgements and outcomes",
    "files:read": "reading reported .eml/.msg files",
    "files:write": "the weekly digest's chart",
    "channels:history": "finding a card again after a crash (public SOC channel), intake uploads",
    "groups:history": "the same in private channels",
    "channels:read": "this doctor's channel checks (public channels)",
    "groups:read": "this doctor's channel checks (private channels)",
    "im:write": "telling reporters the outcome in a DM",
    "users:read": "reporters' names",
    "users:read.email": "reporters' email addresses (Microsoft needs the recipient)",
    "usergroups:read": "responder user groups",
}
SCOPE_FIX = (
    "add {missing} under OAuth & Permissions → Bot Token Scopes (manifest.yml lists every scope), then reinstall"
    " the app to the workspace so the token gets them"
)
CONSENT_FIX = (
    "Entra admin center → App registrations → this app → API permissions → Add a permission → Microsoft Graph"
    " → Application permissions: add {roles}, then 'Grant admin consent' (or run `phishbot setup microsoft`,"
    " which adds what is missing)"
)


@dataclass(frozen=True)
class Feature:
    name: str
    what: str
    roles: tuple[str, ...]  # any one of them is enough


SUBMISSION = Feature(
    "submission", "sending reports to Microsoft and reading verdicts", ("ThreatSubmission.ReadWrite.All",)
)
HUNTING = Feature("hunting", "who clicked, the recipients of a campaign", ("ThreatHunting.Read.All",))
DEFENDER_PURGE = Feature(
    "remediation (Defender)",
    "purge and restore through Defender's analyzedEmails",
    ("SecurityAnalyzedMessage.ReadWrite.All",),
)
MAILBOX_PURGE = Feature(
    "remediation (mailbox)",
    "purge and restore through the mailbox API (no Defender Plan 2)",
    ("Mail.ReadWrite",),
)
MAIL_READ = Feature(
    "mail read",
    "'my recent emails' in the report form, the original of an inline forward",
    ("Mail.Read", "Mail.ReadWrite"),
)


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK, FAIL or OFF
    detail: str
    fix: str = ""


class Doctor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.checks: list[Check] = []
        self._scopes: set[str] | None = None

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(name, status, detail, fix))

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def run(self) -> Doctor:
        self.configuration()
        slack = self.slack()
        if slack is not None:
            self.channels(slack)
            self.responders(slack)
        self.microsoft()
        self.database()
        return self

    # --- configuration -------------------------------------------------------------------------------------

    def configuration(self) -> None:
        s = self.settings
        present = ["SLACK_BOT_TOKEN"]
        present.append("SLACK_APP_TOKEN" if s.mode == "socket" else "SLACK_SIGNING_SECRET")
        present.append("MS_CLIENT_SECRET" if s.ms_client_secret else "MS_CLIENT_CERTIFICATE")
        self.add("Configuration", OK, f"{s.mode} mode; {', '.join(present)} set")

    # --- Slack ---------------------------------------------------------------------------------------------

    def slack(self) -> WebClient | None:
        from bot.services import slack_client

        client = slack_client(self.settings)
        try:
            response = client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error")
            self.add(
                "Slack token",
                FAIL,
                f"auth.test refused it ({error})",
                "copy the Bot User OAuth Token (xoxb-…) from OAuth & Permissions into SLACK_BOT_TOKEN; install"
                " (or reinstall) the app to the workspace first",
            )
            return None
        except Exception as exc:  # noqa: BLE001 - any way of not reaching Slack is one line here
            self.add(
                "Slack token",
                FAIL,
                f"Slack not reachable at {self.settings.slack_api_url} ({type(exc).__name__})",
                "check SLACK_API_URL, HTTPS_PROXY and the network path to Slack",
            )
            return None
        self.add(
            "Slack token",
            OK,
            f"auth.test ok: bot user {response.get('user_id')} in {response.get('team')} ({response.get('team_id')})",
        )
        headers = {str(k).lower(): v for k, v in (response.headers or {}).items()}
        value = headers.get("x-oauth-scopes")
        if isinstance(value, list):
            value = ",".join(value)
        if value is None:
            self.add(
                "Slack scopes",
                FAIL,
                "Slack did not say which scopes the token has (no X-OAuth-Scopes header)",
                "check that SLACK_BOT_TOKEN is a bot token of this app",
            )
            return client
        granted = {part.strip() for part in str(value).split(",") if part.strip()}
        self._scopes = granted
        missing = [scope for scope in SCOPES if scope not in granted]
        if missing:
            self.add(
                "Slack scopes",
                FAIL,
                "missing " + "; ".join(f"{scope} ({SCOPES[scope]})" for scope in missing),
                SCOPE_FIX.format(missing=", ".join(missing)),
            )
        else:
            self.add("Slack scopes", OK, f"all {len(SCOPES)} scopes manifest.yml asks for")
        return client

    def channels(self, client: WebClient) -> None:
        s = self.settings
        wanted: list[tuple[str, str, str]] = [("SOC channel", "PHISHBOT_SOC_CHANNEL", s.soc_channel or "")]
        wanted += [("Intake channel", "PHISHBOT_INTAKE_CHANNELS", c) for c in s.intake_channels]
        if s.digest_channel:
            wanted.append(("Digest channel", "PHISHBOT_DIGEST_CHANNEL", s.digest_channel))
        for label, variable, channel in wanted:
            self._channel(client, label, variable, channel)

    def _channel(self, client: WebClient, label: str, variable: str, channel: str) -> None:
        name = f"{label} {channel}"
        try:
            info = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "missing_scope":
                self.add(
                    name,
                    FAIL,
                    "cannot be checked: the token lacks channels:read / groups:read",
                    SCOPE_FIX.format(missing="channels:read, groups:read"),
                )
            elif error == "channel_not_found":
                self.add(
                    name,
                    FAIL,
                    "not found (no such channel, or a private channel the bot is not in)",
                    f"check {variable} (channel details → the id at the bottom), and invite the bot:"
                    " /invite @phishbot in that channel",
                )
            else:
                self.add(name, FAIL, f"conversations.info failed ({error})", f"check {variable}")
            return
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            self.add(name, FAIL, f"could not ask Slack ({type(exc).__name__})", "run the doctor again")
            return
        title = f"#{info.get('name')}" if info.get("name") else channel
        if info.get("is_archived"):
            self.add(name, FAIL, f"{title} is archived", f"unarchive it, or set {variable} to a live channel")
        elif not info.get("is_member"):
            self.add(
                name, FAIL, f"{title} exists but the bot is not a member", f"/invite @phishbot in {title}"
            )
        else:
            self.add(name, OK, f"{title}, the bot is a member")

    def responders(self, client: WebClient) -> None:
        ids = self.settings.responders
        if not ids:
            self.add(
                "Responders",
                OFF,
                "PHISHBOT_RESPONDERS is empty: nobody can resubmit, dismiss or purge from a card",
                "set PHISHBOT_RESPONDERS to user ids (U…) and user group ids (S…)",
            )
            return
        for responder in ids:
            name = f"Responders {responder}"
            try:
                if responder.startswith("S"):
                    users = client.usergroups_users_list(usergroup=responder).get("users") or []
                    self.add(name, OK, f"user group with {len(users)} member(s)")
                else:
                    user = client.users_info(user=responder)["user"]
                    if user.get("deleted"):
                        self.add(name, FAIL, "this user is deactivated", "remove it from PHISHBOT_RESPONDERS")
                    else:
                        self.add(name, OK, f"user {user.get('name')}")
            except SlackApiError as exc:
                error = exc.response.get("error")
                fix = "check PHISHBOT_RESPONDERS (user group ids start with S, from the group's profile link)"
                if error == "missing_scope":
                    fix = SCOPE_FIX.format(missing="usergroups:read, users:read")
                self.add(name, FAIL, f"does not resolve ({error})", fix)
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                self.add(name, FAIL, f"could not ask Slack ({type(exc).__name__})", "run the doctor again")

    # --- Microsoft ---------------------------------------------------------------------------------------------

    def microsoft(self) -> None:
        from bot.microsoft import GraphClient, GraphError, RetryPolicy
        from bot.services import tls_context

        s = self.settings
        try:
            graph = GraphClient(
                tenant_id=s.ms_tenant_id or "",
                client_id=s.ms_client_id or "",
                client_secret=s.ms_client_secret.get_secret_value() if s.ms_client_secret else None,
                client_certificate_pem=s.client_certificate_pem(),
                authority_host=s.ms_authority_host,
                graph_url=s.graph_url,
                verify=tls_context(s),
                proxy=s.https_proxy,
                retry=RetryPolicy(max_attempts=2, timeout=15),
            )
        except GraphError as exc:
            self.add("Microsoft token", FAIL, str(exc), "fix MS_CLIENT_SECRET / MS_CLIENT_CERTIFICATE")
            return
        with graph:
            try:
                roles = graph.granted_roles()
            except GraphError as exc:
                self.add(
                    "Microsoft token",
                    FAIL,
                    str(exc),
                    "check MS_TENANT_ID, MS_CLIENT_ID and the secret or certificate of the app registration",
                )
                self.add("Graph", FAIL, "not checked: no token", "fix the Microsoft token first")
                return
            self.add("Microsoft token", OK, f"obtained from {s.ms_authority_host} for {s.graph_url}")
            self.permissions(roles)
            try:
                graph.probe()
                self.add("Graph", OK, f"{s.graph_url} answered a threat submission read")
            except GraphError as exc:
                if exc.status is not None and exc.status in (401, 403):
                    self.add("Graph", OK, f"{s.graph_url} reachable (it refused the read: see permissions)")
                else:
                    self.add(
                        "Graph",
                        FAIL,
                        str(exc),
                        "check GRAPH_URL, HTTPS_PROXY / SSL_CERT_FILE and the network path to Graph",
                    )
                    return
            self.user_reports(graph)

    def user_reports(self, graph: GraphClient) -> None:
        """Whether messages reported with the Report button can be followed, and whether the organisation's
        user-reported settings send them to Microsoft (else they have no Microsoft result to show)."""
        from bot.microsoft import GraphError

        name = "Feature: user reports"
        if self.settings.user_reports == "off":
            self.add(
                name,
                OFF,
                "PHISHBOT_USER_REPORTS=off: messages reported with Outlook's Report button are not followed",
                "set PHISHBOT_USER_REPORTS=on",
            )
            return
        try:
            graph.user_reported_since(datetime.now(UTC) - timedelta(days=1), max_pages=1, page_size=1)
        except GraphError as exc:
            if exc.status == 403:
                self.add(
                    name,
                    OFF,
                    "off: Microsoft refused the list of user-reported submissions (needs ThreatSubmission.Read.All"
                    " or ThreatSubmission.ReadWrite.All); the running bot asks again every hour",
                    CONSENT_FIX.format(roles="ThreatSubmission.Read.All"),
                )
            else:
                self.add(
                    name,
                    OFF,
                    f"off: the list of user-reported submissions failed: {exc}",
                    "run the doctor again",
                )
            return
        every = self.settings.user_reports_poll
        self.add(
            name, OK, f"messages reported with the Report button are listed every {every} s and become cards"
        )
        self._user_reported_settings(graph)

    def _user_reported_settings(self, graph: GraphClient) -> None:
        from bot.microsoft import GraphError

        name = "User-reported settings"
        fix = (
            "Microsoft Defender portal → Settings → Email & collaboration → User reported settings: send the reported"
            " messages to 'Microsoft and my reporting mailbox'"
        )
        try:
            policy = graph.user_reported_settings()
        except GraphError as exc:
            reason = "needs ThreatSubmission.Read.All" if exc.status == 403 else str(exc)
            self.add(name, OFF, f"not read ({reason}): whether Microsoft analyses user reports is unknown")
            return
        if policy is None:
            self.add(name, OFF, "none found: Microsoft's defaults apply", fix)
        elif policy.get("isReportToMicrosoftEnabled") is True:
            self.add(
                name,
                OK,
                "reports go to Microsoft: each card shows Microsoft's analysis of the employee's report",
            )
        else:
            self.add(
                name,
                OFF,
                "reports do not go to Microsoft (reporting mailbox only): their cards show no Microsoft result until"
                " a responder resubmits",
                fix,
            )

    def permissions(self, roles: frozenset[str]) -> None:
        def has(feature: Feature) -> bool:
            return any(role in roles for role in feature.roles)

        shown = ", ".join(sorted(roles)) if roles else "none"
        if not has(SUBMISSION):
            self.add(
                "Graph permissions",
                FAIL,
                f"granted: {shown}; missing ThreatSubmission.ReadWrite.All: nothing can be sent to Microsoft",
                CONSENT_FIX.format(roles="ThreatSubmission.ReadWrite.All"),
            )
        else:
            self.add("Graph permissions", OK, f"granted: {shown}")
        method = self.settings.purge_method
        purge_features = {"defender": [DEFENDER_PURGE], "mailbox": [MAILBOX_PURGE]}.get(
            method, [DEFENDER_PURGE, MAILBOX_PURGE]
        )
        purge_ok = [f for f in purge_features if has(f)]
        for feature in (HUNTING, *purge_features, MAIL_READ):
            if has(feature):
                self.add(f"Feature: {feature.name}", OK, feature.what)
                continue
            roles_needed = " or ".join(feature.roles)
            if feature in purge_features and method != "auto":
                self.add(
                    f"Feature: {feature.name}",
                    FAIL,
                    f"PHISHBOT_PURGE_METHOD={method} needs {roles_needed}: purge and restore will fail",
                    CONSENT_FIX.format(roles=roles_needed),
                )
                continue
            if feature in purge_features and purge_ok:
                continue  # auto: the other purge method will be used
            self.add(
                f"Feature: {feature.name}",
                OFF,
                f"off: {feature.what} (needs {roles_needed})",
                CONSENT_FIX.format(roles=roles_needed),
            )

    # --- database ----------------------------------------------------------------------------------------------

    def database(self) -> None:
        from sqlalchemy.engine import make_url

        from bot.store import Database

        url = self.settings.database_url
        shown = make_url(url).render_as_string(hide_password=True)
        try:
            database = Database(url)
        except ModuleNotFoundError as exc:
            self.add(
                "Database",
                FAIL,
                f"{shown}: driver missing ({exc.name})",
                "install phishbot with PostgreSQL support: pip install 'phishbot[postgres]'",
            )
            return
        except Exception as exc:  # noqa: BLE001 - a malformed URL is reported, not raised
            self.add(
                "Database", FAIL, f"DATABASE_URL is not usable ({type(exc).__name__})", "fix DATABASE_URL"
            )
            return
        try:
            problem = database.schema_problem()
        except Exception as exc:  # noqa: BLE001 - unreachable database
            self.add(
                "Database",
                FAIL,
                f"{shown} not reachable ({type(exc).__name__})",
                "check DATABASE_URL, that the server runs, and the network path to it",
            )
            return
        finally:
            database.close()
        if problem is None:
            self.add("Database", OK, f"{shown} at schema revision {Database.head_revision()}")
        else:
            kind, words = problem
            fix = "phishbot migrate" if kind != "ahead" else "run the phishbot release that migrated it"
            self.add("Database", FAIL, f"{shown}: {words}", fix)

    # --- output ------------------------------------------------------------------------------------------------

    def print(self, out: TextIO) -> None:
        width = max((len(c.name) for c in self.checks), default=10) + 2
        for check in self.checks:
            out.write(f"{check.status} {check.name.ljust(width)}{check.detail}\n")
            if check.fix and check.status != OK:
                out.write(f"  {' ' * width}fix: {check.fix}\n")
        failed = sum(c.status == FAIL for c in self.checks)
        off = sum(c.status == OFF for c in self.checks)
        if failed:
            out.write(f"\n{failed} problem(s) to fix before phishbot can run as configured.\n")
        elif off:
            out.write(f"\nReady; {off} feature(s) or setting(s) off (marked !).\n")
        else:
            out.write("\nEverything phishbot needs is in place.\n")


def run_doctor(settings: Settings, out: TextIO | None = None) -> int:
    """Run every check, print the table; 0 when everything phishbot needs is there, else 1."""
    doctor = Doctor(settings).run()
    doctor.print(out or sys.stdout)
    return 0 if doctor.healthy else 1
