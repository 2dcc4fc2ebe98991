"""`phishbot setup microsoft`: register phishbot in Microsoft Entra, as an administrator signed in with a code.

1. The administrator signs in with the device-code flow (`bot.microsoft.device_code`), in any browser.
2. phishbot reads what is there (`bot.microsoft.entra`): Microsoft Graph's service principal and its appRoles,
   which turn the README's permission names into ids; the app registration of that name; its certificates;
   its service principal and the app roles already granted to it.
3. It prints the plan; with `--dry-run` that is all. Otherwise it makes what is missing: a key and a
   self-signed certificate (the PEM written 0600, never replaced; only the certificate is uploaded), the app
   registration with exactly `APPLICATION_PERMISSIONS` (minus `--without`), its service principal, and admin
   consent as one app role assignment per permission. A run over a finished registration changes nothing.
4. It prints the MS_* lines for .env and the next steps. No token, key or secret is ever printed.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.config import Endpoints
from bot.microsoft.certificate import KEY_SIZE, Certificate, read_certificate, self_signed, write_private
from bot.microsoft.device_code import GRAPH_COMMAND_LINE_TOOLS, AdminToken, DeviceCode, SignedIn
from bot.microsoft.entra import (
    GRAPH_APP_ID,
    AppRole,
    EntraApps,
    MissingPrivilege,
    Registration,
    ServicePrincipal,
)
from bot.microsoft.errors import GraphError
from bot.microsoft.retry import RetryPolicy
from bot.microsoft.transport import GraphTransport, build_http

# The README's table of application permissions, in its order (a test keeps the two the same, and each is a
# role some feature of `phishbot doctor` looks for).
APPLICATION_PERMISSIONS = (
    "ThreatSubmission.ReadWrite.All",
    "ThreatHunting.Read.All",
    "SecurityAnalyzedMessage.ReadWrite.All",
    "Mail.ReadWrite",
    "Mail.Read",
)
# What may be left out (`--without`): everything but submission works without each of these.
OPTIONAL_PERMISSIONS = APPLICATION_PERMISSIONS[1:]
# Delegated permissions of the sign-in (least privileged for each call, learn.microsoft.com): reading apps and
# service principals; creating and updating them; granting app roles (with Application.Read.All, which
# Application.ReadWrite.All includes).
CHANGE_SCOPES = ("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")
READ_SCOPES = ("Application.Read.All",)
DEFAULT_NAME = "phishbot"
DEFAULT_CERTIFICATE = Path("phishbot-microsoft.pem")
_EXPIRY_WARNING = dt.timedelta(days=30)


@dataclass(frozen=True)
class Options:
    name: str = DEFAULT_NAME
    tenant: str = "organizations"
    client_id: str = GRAPH_COMMAND_LINE_TOOLS
    certificate: Path = DEFAULT_CERTIFICATE
    without: tuple[str, ...] = ()
    dry_run: bool = False


class SetupError(Exception):
    """A stop with one line for the person (never a secret)."""


@dataclass
class Plan:
    """What is there, and so what a run changes."""

    graph: ServicePrincipal
    roles: list[AppRole]
    registration: Registration | None
    certificate: Certificate | None  # the local one; None: a new one is made
    certificate_registered: bool
    missing_access: list[AppRole]
    principal: ServicePrincipal | None
    missing_grants: list[AppRole]
    done: list[str] = field(default_factory=list)

    def changes(self, options: Options) -> list[str]:
        names = ", ".join(role.value for role in self.roles)
        steps = []
        if self.registration is None:
            steps.append(
                f'create the app registration "{options.name}" (this tenant only) with the application '
                f"permissions {names}"
            )
        elif self.missing_access:
            missing = ", ".join(role.value for role in self.missing_access)
            steps.append(f'add the application permissions {missing} to "{options.name}"')
        if self.certificate is None:
            steps.append(
                f"make an RSA {KEY_SIZE} key and a self-signed certificate for it, valid for a year; write both to "
                f"{options.certificate} (mode 0600)"
            )
        if self.certificate is None or not self.certificate_registered:
            steps.append(f'upload the certificate (never the key) to "{options.name}"')
        if self.principal is None:
            steps.append(f'create the service principal (enterprise application) of "{options.name}"')
        grants = self.roles if self.principal is None else self.missing_grants
        if grants:
            steps.append("grant admin consent: " + ", ".join(role.value for role in grants))
        return steps

    def in_place(self, options: Options) -> list[str]:
        lines = [f"Microsoft Graph's application permissions, found by name: {len(self.roles)}"]
        if self.registration is not None:
            lines.append(f'app registration "{options.name}": client id {self.registration.app_id}')
        if self.certificate is not None:
            state = "uploaded" if self.certificate_registered else "not uploaded yet"
            lines.append(
                f"certificate {options.certificate} ({self.certificate.subject}, valid until "
                f"{self.certificate.not_after:%Y-%m-%d}): {state}"
            )
        if self.principal is not None:
            granted = len(self.roles) - len(self.missing_grants)
            lines.append(f"service principal {self.principal.id}: {granted} of {len(self.roles)} consented")
        return lines


def run_setup_microsoft(
    options: Options,
    endpoints: Endpoints,
    *,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
    retry: RetryPolicy | None = None,
) -> int:
    out = out or sys.stdout
    try:
        _check(options)
        with _Session(options, endpoints, out, sleep, retry or RetryPolicy()) as session:
            return session.run()
    except SetupError as exc:
        print(f"phishbot: {exc}", file=out)
        return 1
    except MissingPrivilege as exc:
        print(f"phishbot: {exc}", file=out)
        print(
            "What was done so far stays done: run this again signed in with that role, and it carries on from here.",
            file=out,
        )
        return 1
    except GraphError as exc:  # AuthError included: its text names what to fix
        print(f"phishbot: {exc}", file=out)
        return 1
    except KeyboardInterrupt:
        print("\nphishbot: stopped; nothing more was changed (run the command again to carry on)", file=out)
        return 130


def _check(options: Options) -> None:
    unknown = [name for name in options.without if name not in OPTIONAL_PERMISSIONS]
    if unknown:
        raise SetupError(
            f"--without takes {', '.join(OPTIONAL_PERMISSIONS)}; not {', '.join(unknown)} "
            "(ThreatSubmission.ReadWrite.All is what phishbot is for)"
        )
    if not options.name.strip():
        raise SetupError("--name must not be empty")


class _Session:
    def __init__(
        self,
        options: Options,
        endpoints: Endpoints,
        out: TextIO,
        sleep: Callable[[float], None],
        retry: RetryPolicy,
    ) -> None:
        from bot.services import tls_context

        self.options = options
        self.endpoints = endpoints
        self.out = out
        verify = tls_context(endpoints)

        def http_client() -> Any:
            return build_http(verify, endpoints.https_proxy, retry.timeout)

        self.token = AdminToken(
            tenant=options.tenant,
            client_id=options.client_id,
            scopes=READ_SCOPES if options.dry_run else CHANGE_SCOPES,
            authority_host=endpoints.ms_authority_host,
            graph_url=endpoints.graph_url,
            retry=retry,
            sleep=sleep,
            http_client=http_client,
            report=lambda *_: None,
        )
        self.transport = GraphTransport(
            graph_url=endpoints.graph_url,
            token=self.token,
            http=http_client(),
            retry=retry,
            sleep=sleep,
            report=lambda *_: None,
        )
        self.apps = EntraApps(self.transport)

    def __enter__(self) -> _Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.transport.close()
        self.token.close()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def run(self) -> int:
        o, e = self.options, self.endpoints
        mode = " (dry run: nothing will be changed)" if o.dry_run else ""
        self.say(f'phishbot setup microsoft: the app registration "{o.name}" in Microsoft Entra{mode}')
        self.say(f"  identity: {e.ms_authority_host}   Graph: {e.graph_url}")
        self.say()
        signed_in = self.token.sign_in(self.show_code)
        who = signed_in.username or "an account"
        self.say(f"Signed in as {who} in tenant {signed_in.tenant_id}.")
        self.say()
        plan = self.read_plan()
        for line in plan.in_place(o):
            self.say(f"  ✓ {line}")
        changes = plan.changes(o)
        if not changes:
            self.say("Nothing to change: the app registration is complete.")
        elif o.dry_run:
            self.say("Would change:")
            for step in changes:
                self.say(f"  + {step}")
            self.say()
            self.say("Dry run: nothing was changed. Run it again without --dry-run to make these changes.")
        else:
            self.say("Changing:")
            self.apply(plan)
            self.say(f"Done: {len(plan.done)} change{'s' if len(plan.done) != 1 else ''}.")
        self.say()
        self.next_steps(plan, signed_in)
        return 0

    def show_code(self, code: DeviceCode) -> None:
        minutes = max(code.expires_in // 60, 1)
        self.say(
            f"To sign in, open {code.verification_uri} in a browser and enter the code {code.user_code} "
            f"(it expires in {minutes} min)."
        )
        if self.options.dry_run:
            self.say("Any account of the tenant may look (the dry run asks only to read applications).")
        else:
            self.say(
                "Sign in as a Privileged Role Administrator (or Global Administrator): granting admin consent to "
                "Microsoft Graph's application permissions needs that role."
            )
        self.say("Waiting for the sign-in…")

    # -- reading ------------------------------------------------------------------------------------------------

    def read_plan(self) -> Plan:
        o = self.options
        graph = self.apps.service_principal(GRAPH_APP_ID, with_roles=True)
        if graph is None:
            raise SetupError("this tenant has no service principal for Microsoft Graph; check --tenant")
        roles = _resolve(graph, [name for name in APPLICATION_PERMISSIONS if name not in o.without])
        found = self.apps.applications_named(o.name)
        if len(found) > 1:
            ids = ", ".join(app.app_id for app in found)
            raise SetupError(
                f'{len(found)} app registrations are named "{o.name}" (client ids {ids}); rename or delete the '
                "extra ones, or pass --name to use another name"
            )
        registration = found[0] if found else None
        certificate = self.local_certificate()
        registered = False
        if registration is not None and certificate is not None:
            registered = certificate.registered_in(self.apps.key_credentials(registration))
        principal = self.apps.service_principal(registration.app_id) if registration else None
        granted: set[tuple[str, str]] = set()
        if principal is not None:
            granted = {
                (str(item.get("resourceId")), str(item.get("appRoleId")))
                for item in self.apps.role_assignments(principal)
            }
        return Plan(
            graph=graph,
            roles=roles,
            registration=registration,
            certificate=certificate,
            certificate_registered=registered,
            missing_access=_missing_access(registration, roles) if registration else [],
            principal=principal,
            missing_grants=[role for role in roles if (graph.id, role.id) not in granted],
        )

    def local_certificate(self) -> Certificate | None:
        path = self.options.certificate
        if not path.exists():
            return None
        try:
            certificate = read_certificate(path.read_bytes())
        except (OSError, ValueError):
            raise SetupError(
                f"{path} is there but holds no readable PEM certificate; move it away (phishbot then makes a new "
                "one) or pass --certificate"
            ) from None
        if certificate.not_after <= dt.datetime.now(dt.UTC):
            raise SetupError(
                f"the certificate in {path} expired on {certificate.not_after:%Y-%m-%d}; move the file away and run "
                "this again to make and upload a new one"
            )
        if path.stat().st_mode & 0o077:
            self.say(f"  ! {path} can be read by others than its owner: chmod 600 {path}")
        return certificate

    # -- changing -----------------------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> None:
        o = self.options
        if plan.certificate is None:
            pem, plan.certificate = self_signed(o.name)
            try:
                write_private(o.certificate, pem)
            except FileExistsError:
                raise SetupError(f"{o.certificate} appeared meanwhile; run the command again") from None
            self.done(
                plan,
                f"made a key and a certificate (valid until {plan.certificate.not_after:%Y-%m-%d}): "
                f"{o.certificate}, mode 0600",
            )
        credential = plan.certificate.key_credential(f"CN={o.name} (phishbot setup)")
        if plan.registration is None:
            plan.registration = self.apps.create_application(
                {
                    "displayName": o.name,
                    "signInAudience": "AzureADMyOrg",
                    "requiredResourceAccess": [_access_entry(plan.graph, plan.roles)],
                    "keyCredentials": [credential],
                }
            )
            self.done(plan, f'created the app registration "{o.name}" (client id {plan.registration.app_id})')
            self.done(plan, "uploaded the certificate")
        else:
            self.update_registration(plan, credential)
        if plan.principal is None:
            plan.principal = self.create_principal(plan.registration)
            self.done(plan, f"created the service principal {plan.principal.id}")
            plan.missing_grants = list(plan.roles)
        for role in plan.missing_grants:
            self.apps.grant(plan.principal, plan.graph, role)
            self.done(plan, f"granted admin consent: {role.value}")

    def update_registration(self, plan: Plan, credential: dict[str, str]) -> None:
        assert plan.registration is not None and plan.certificate is not None
        changes: dict[str, Any] = {}
        if plan.missing_access:
            changes["requiredResourceAccess"] = _merged_access(
                plan.registration, plan.graph, plan.missing_access
            )
        if not plan.certificate_registered:
            # keyCredentials is replaced as a whole: the certificates already there (read with their keys) stay.
            changes["keyCredentials"] = [
                _kept_key(item) for item in self.apps.key_credentials(plan.registration)
            ] + [credential]
        if not changes:
            return
        self.apps.update_application(plan.registration, changes)
        if plan.missing_access:
            missing = ", ".join(role.value for role in plan.missing_access)
            self.done(plan, f"added the application permissions {missing}")
        if not plan.certificate_registered:
            self.done(plan, "uploaded the certificate")

    def create_principal(self, registration: Registration) -> ServicePrincipal:
        try:
            return self.apps.create_service_principal(registration.app_id)
        except GraphError as exc:
            if exc.status == 400 and "appId" in str(exc):
                # Entra replicates a new application for a few seconds; what was made so far stays made.
                raise SetupError(
                    f"Microsoft Entra does not know the new app registration yet ({exc}); wait a minute and run "
                    "the same command again: it carries on from here"
                ) from None
            raise

    def done(self, plan: Plan, text: str) -> None:
        plan.done.append(text)
        self.say(f"  + {text}")

    # -- the end ------------------------------------------------------------------------------------------------

    def next_steps(self, plan: Plan, signed_in: SignedIn) -> None:
        o, e = self.options, self.endpoints
        if plan.registration is None:
            self.say("MS_CLIENT_ID is known once the app registration is created (run without --dry-run).")
            return
        complete = not (o.dry_run and plan.changes(o))
        self.say("Put these lines in .env (or the environment phishbot runs in):")
        self.say()
        self.say(f"MS_TENANT_ID={signed_in.tenant_id}")
        self.say(f"MS_CLIENT_ID={plan.registration.app_id}")
        self.say(f"MS_CLIENT_CERTIFICATE={o.certificate.resolve()}")
        defaults = Endpoints.model_fields
        if e.ms_authority_host != defaults["ms_authority_host"].default:
            self.say(f"MS_AUTHORITY_HOST={e.ms_authority_host}")
        if e.graph_url != defaults["graph_url"].default:
            self.say(f"GRAPH_URL={e.graph_url}")
        self.say()
        self.say("Next:")
        step = 1
        if not complete:
            self.say(f"  {step}. Run this again without --dry-run to finish the registration.")
            step += 1
        expires = f", valid until {plan.certificate.not_after:%Y-%m-%d}" if plan.certificate else ""
        self.say(
            f"  {step}. Keep {o.certificate} where only phishbot can read it (it holds the private key{expires}); "
            "in a container, mount it read-only and point MS_CLIENT_CERTIFICATE at it."
        )
        self.say(
            f"  {step + 1}. Run `phishbot doctor`: it signs in with the certificate and lists the permissions the "
            "token carries (a new consent can take a few minutes to show)."
        )
        if "SecurityAnalyzedMessage.ReadWrite.All" not in o.without:
            self.say(
                f"  {step + 2}. Without Microsoft Defender for Office 365 Plan 2, run this again with "
                "--without SecurityAnalyzedMessage.ReadWrite.All (phishbot then purges through the mailbox API)."
            )
        if plan.certificate and plan.certificate.not_after - dt.datetime.now(dt.UTC) < _EXPIRY_WARNING:
            self.say(f"  ! the certificate expires on {plan.certificate.not_after:%Y-%m-%d}: renew it soon.")


def _resolve(graph: ServicePrincipal, names: list[str]) -> list[AppRole]:
    """Each name as Microsoft Graph's application permission (an appRole for applications), never a
    delegated permission of the same name; a name this cloud's Graph does not offer stops the run."""
    by_value = {role.value: role for role in graph.app_roles if role.for_applications and role.enabled}
    missing = [name for name in names if name not in by_value]
    if missing:
        raise SetupError(
            f"Microsoft Graph in this cloud has no application permission {', '.join(missing)}; leave it out "
            f"with --without {missing[0]} if phishbot can do without it here"
        )
    return [by_value[name] for name in names]


def _missing_access(registration: Registration, roles: list[AppRole]) -> list[AppRole]:
    present = {
        str(access.get("id"))
        for entry in registration.required_resource_access
        if entry.get("resourceAppId") == GRAPH_APP_ID
        for access in entry.get("resourceAccess") or []
        if isinstance(access, dict) and access.get("type") == "Role"
    }
    return [role for role in roles if role.id not in present]


def _access_entry(graph: ServicePrincipal, roles: list[AppRole]) -> dict[str, Any]:
    return {"resourceAppId": graph.app_id, "resourceAccess": [{"id": r.id, "type": "Role"} for r in roles]}


def _merged_access(registration: Registration, graph: ServicePrincipal, add: list[AppRole]) -> list[dict]:
    """The app's requiredResourceAccess with `add` in Microsoft Graph's entry; everything else as it was."""
    merged: list[dict] = []
    added = False
    for entry in registration.required_resource_access:
        if entry.get("resourceAppId") == GRAPH_APP_ID and not added:
            access = [item for item in entry.get("resourceAccess") or [] if isinstance(item, dict)]
            entry = {**entry, "resourceAccess": access + [{"id": r.id, "type": "Role"} for r in add]}
            added = True
        merged.append(entry)
    if not added:
        merged.append(_access_entry(graph, add))
    return merged


def _kept_key(item: dict[str, Any]) -> dict[str, Any]:
    """A keyCredential as read back, ready to be sent again unchanged."""
    keep = (
        "customKeyIdentifier",
        "displayName",
        "endDateTime",
        "key",
        "keyId",
        "startDateTime",
        "type",
        "usage",
    )
    return {name: item[name] for name in keep if item.get(name) is not None}
