"""Microsoft Entra for the loopback Graph emulator: people who sign in with a device code, app registrations,
service principals, app role assignments and certificate credentials — what `phishbot setup microsoft` uses, and
what the bot then signs in with.

`EntraDirectory().attach(graph_emulator)` adds, through the emulator's `add_route` (its token check, request
validation, `fail_next` and `$batch` apply unchanged) and its `identity_handler`:

* **Sign-in** at `/{tenant}/oauth2/v2.0/devicecode` and the token endpoint's device-code grant (tenant: the
  emulator's, `organizations` or `common`): `authorization_pending` until the person signs in, then a delegated
  token (`scp` the delegated permissions asked for, `idtyp` user), an id token (`tid`, `preferred_username`) and a
  refresh token (`refresh_token` grant). The person is played by `sign_in_next(upn, after_polls=…)` (the next code
  is signed in after that many polls) or `approve(user_code, upn)`; `decline_next()` declines. Only known public
  clients may start a sign-in (`public_clients`; Microsoft Graph Command Line Tools by default).
* **Graph v1.0**: `GET/POST /applications` (`$filter` on displayName or appId, `$select`), `GET/PATCH
  /applications/{id}` (keyCredentials' `key` only when `$select`-ed on one application, as Graph does; a PATCH of
  keyCredentials replaces them all and needs every key), `GET/POST /servicePrincipals` (`$filter` on appId or
  displayName), `GET /servicePrincipals/{id}`, `GET/POST /servicePrincipals/{id}/appRoleAssignments` and `POST
  …/appRoleAssignedTo`. Microsoft Graph's service principal (appId 00000003-0000-0000-c000-000000000000) is
  there from the start; its appRoles get fresh random ids in every directory, so a client must resolve them by
  name, and a delegated permission (oauth2PermissionScopes) shares a name with an application one.
* **Who may**: each call checks the token's delegated permission (Application.Read.All / Application.ReadWrite.All
  / AppRoleAssignment.ReadWrite.All) and the person's directory roles, as Entra does: registering an app needs
  `users_can_register_apps` or Application Developer / Application Administrator / Cloud Application
  Administrator; changing one, being its owner (its creator is) or an application administrator; granting
  Microsoft Graph's app roles, Privileged Role Administrator or Global Administrator. A refusal is 403
  `Authorization_RequestDenied`. An app token (no person) may do none of it.
* **The app signs in**: the client-credentials grant for an app registration held here verifies the client
  assertion against the certificates in its keyCredentials (`graph_emulator.client_assertion_problem`), needs
  its service principal, and issues a token whose `roles` are the app roles granted to it.

`replicate_slowly()` makes the next service principal creation answer 400 as Entra does while a new application
is still replicating. Nothing here touches the network beyond the emulator's loopback port.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import json
import re
import secrets
import string
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from bot.sandbox.graph_emulator import (
    JWT_BEARER,
    TOKEN_LIFETIME,
    GraphEmulator,
    RecordedRequest,
    client_assertion_problem,
    graph_error,
    identity_error,
)

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_COMMAND_LINE_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
DEVICE_CODE_LIFETIME = 900
# Microsoft Graph's application permissions in this directory: phishbot's, and some others around them.
GRAPH_APP_ROLES = (
    "ThreatSubmission.ReadWrite.All",
    "ThreatSubmission.Read.All",
    "ThreatHunting.Read.All",
    "SecurityAnalyzedMessage.ReadWrite.All",
    "SecurityAnalyzedMessage.Read.All",
    "Mail.ReadWrite",
    "Mail.Read",
    "Mail.ReadBasic.All",
    "User.Read.All",
    "Directory.Read.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
)
# ... and delegated ones (oauth2PermissionScopes); Mail.Read and Mail.ReadWrite are both, with other ids.
GRAPH_SCOPES = (
    "User.Read",
    "Mail.Read",
    "Mail.ReadWrite",
    "Application.Read.All",
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "Directory.Read.All",
)
GLOBAL_ADMINISTRATOR = "Global Administrator"
PRIVILEGED_ROLE_ADMINISTRATOR = "Privileged Role Administrator"
CLOUD_APPLICATION_ADMINISTRATOR = "Cloud Application Administrator"
APPLICATION_ADMINISTRATOR = "Application Administrator"
APPLICATION_DEVELOPER = "Application Developer"
_APP_ADMINS = frozenset({GLOBAL_ADMINISTRATOR, CLOUD_APPLICATION_ADMINISTRATOR, APPLICATION_ADMINISTRATOR})
_REGISTRARS = _APP_ADMINS | {APPLICATION_DEVELOPER}
_GRAPH_CONSENTERS = frozenset({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR})
_READ = frozenset({"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All"})
_WRITE = frozenset({"Application.ReadWrite.All"})
_GRANT = frozenset({"AppRoleAssignment.ReadWrite.All"})
_OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_FILTER = re.compile(r"^\s*(appId|displayName)\s+eq\s+'((?:[^']|'')*)'\s*$")
_USER_CODE_ALPHABET = string.ascii_uppercase.replace("O", "").replace("I", "") + "23456789"
_DENIED = "Insufficient privileges to complete the operation."
Answer = tuple[int, Any]


@dataclass
class DirectoryUser:
    id: str
    upn: str
    roles: frozenset[str]


@dataclass
class _DeviceCode:
    client_id: str
    scopes: tuple[str, ...]
    user_code: str
    expires: float  # monotonic
    polls: int = 0
    approved_by: str | None = None  # approve(): the person signed in
    scheduled: str | None = None  # sign_in_next(): the person who signs in once polled `approve_after` times
    approve_after: int = 0
    declined: bool = False


@dataclass
class _Caller:
    """Who a Graph request comes from: a person (delegated) or an application (app-only)."""

    user: DirectoryUser | None
    scopes: frozenset[str]
    app_id: str


@dataclass
class _SignIn:
    upn: str
    after_polls: int
    decline: bool = False


@dataclass
class _Directory:
    applications: dict[str, dict[str, Any]] = field(default_factory=dict)  # object id -> application
    owners: dict[str, set[str]] = field(default_factory=dict)  # application object id -> user ids
    principals: dict[str, dict[str, Any]] = field(default_factory=dict)  # object id -> service principal
    assignments: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> appRoleAssignment


class EntraDirectory:
    """One tenant's directory. `EntraDirectory().attach(graph)`; then `add_user(...)` and `sign_in_next(...)`."""

    def __init__(
        self,
        *,
        users_can_register_apps: bool = True,
        graph_app_roles: Iterable[str] = GRAPH_APP_ROLES,
        interval: int = 1,
    ) -> None:
        self.users_can_register_apps = users_can_register_apps
        self.interval = interval  # seconds between polls the device-code answer asks for (Entra says 5)
        self.public_clients = {GRAPH_COMMAND_LINE_TOOLS: "Microsoft Graph Command Line Tools"}
        self.uploaded_keys: list[str] = []  # every keyCredential key received (base64), for tests
        self._emulator: GraphEmulator | None = None
        self._lock = threading.RLock()
        self._users: dict[str, DirectoryUser] = {}
        self._data = _Directory()
        self._device_codes: dict[str, _DeviceCode] = {}
        self._sign_ins: deque[_SignIn] = deque()
        self._callers: dict[str, _Caller] = {}  # access token -> who
        self._refresh: dict[
            str, tuple[str, str, tuple[str, ...]]
        ] = {}  # refresh token -> (user, client, scopes)
        self._slow_replication = False
        self.graph_principal_id = str(uuid.uuid4())
        self._data.principals[self.graph_principal_id] = _graph_principal(
            self.graph_principal_id, graph_app_roles
        )

    def __repr__(self) -> str:
        return f"EntraDirectory(users={len(self._users)}, applications={len(self._data.applications)})"

    def attach(self, emulator: GraphEmulator) -> EntraDirectory:
        self._emulator = emulator
        emulator.identity_handler = self.identity
        for route, handler in (
            ("GET /v1.0/applications", self._list_applications),
            ("POST /v1.0/applications", self._create_application),
            ("GET /v1.0/applications/{id}", self._get_application),
            ("PATCH /v1.0/applications/{id}", self._update_application),
            ("GET /v1.0/servicePrincipals", self._list_principals),
            ("POST /v1.0/servicePrincipals", self._create_principal),
            ("GET /v1.0/servicePrincipals/{id}", self._get_principal),
            ("GET /v1.0/servicePrincipals/{id}/appRoleAssignments", self._list_assignments),
            ("POST /v1.0/servicePrincipals/{id}/appRoleAssignments", self._assign),
            ("POST /v1.0/servicePrincipals/{id}/appRoleAssignedTo", self._assign_to),
        ):
            emulator.add_route(route, handler)
        return self

    # -- test controls -----------------------------------------------------------------------------------------

    def add_user(self, upn: str, *roles: str) -> DirectoryUser:
        user = DirectoryUser(id=str(uuid.uuid4()), upn=upn.lower(), roles=frozenset(roles))
        with self._lock:
            self._users[user.upn] = user
        return user

    def sign_in_next(self, upn: str, *, after_polls: int = 1) -> None:
        """The next device code is signed in by `upn`, after the client has polled `after_polls` times."""
        with self._lock:
            self._sign_ins.append(_SignIn(upn.lower(), after_polls))

    def decline_next(self) -> None:
        with self._lock:
            self._sign_ins.append(_SignIn("", 0, decline=True))

    def approve(self, user_code: str, upn: str) -> None:
        """The person enters `user_code` on the sign-in page and signs in as `upn`."""
        with self._lock:
            for code in self._device_codes.values():
                if code.user_code == user_code:
                    code.approved_by = upn.lower()
                    return
        raise LookupError(f"no device code {user_code!r} is waiting")

    def add_application(self, display_name: str) -> dict[str, Any]:
        """An app registration made elsewhere (the portal, another tool), with no credentials and no owner here."""
        app = _application(display_name, [], [])
        with self._lock:
            self._data.applications[app["id"]] = app
            self._data.owners[app["id"]] = set()
        return copy.deepcopy(app)

    def replicate_slowly(self) -> None:
        """The next service principal creation fails as while a new application replicates (400)."""
        self._slow_replication = True

    def applications(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(app) for app in self._data.applications.values()]

    def principal_of(self, app_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = [p for p in self._data.principals.values() if p["appId"] == app_id]
        return copy.deepcopy(found[0]) if found else None

    def granted(self, app_id: str) -> set[str]:
        """The names of Microsoft Graph's app roles granted to `app_id`'s service principal."""
        principal = self.principal_of(app_id)
        if principal is None:
            return set()
        return self._granted_values(principal["id"])

    # -- identity ----------------------------------------------------------------------------------------------

    def identity(self, endpoint: str, tenant: str, form: dict[str, str]) -> Answer | None:
        """The emulator's `identity_handler`: device-code sign-ins, refresh tokens, and app registrations' own
        client-credentials sign-in. Anything else (the emulator's own client) is left to the emulator."""
        if endpoint == "devicecode":
            return self._device_code(form)
        grant = form.get("grant_type")
        if grant == DEVICE_CODE_GRANT:
            return self._device_token(form)
        if grant == "refresh_token":
            return self._refresh_token(form)
        if grant == "client_credentials":
            with self._lock:
                known = any(app["appId"] == form.get("client_id") for app in self._data.applications.values())
            if known:
                return self._app_token(tenant, form)
        return None

    def _device_code(self, form: dict[str, str]) -> Answer:
        client_id = form.get("client_id", "")
        if client_id not in self.public_clients:
            return 400, identity_error(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the directory.",
                700016,
            )
        scopes, problem = self._scopes(form.get("scope", ""))
        if problem is not None:
            return problem
        code = _DeviceCode(
            client_id=client_id,
            scopes=scopes,
            user_code="".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(9)),
            expires=time.monotonic() + DEVICE_CODE_LIFETIME,
        )
        device_code = secrets.token_urlsafe(48)
        with self._lock:
            if self._sign_ins:
                scheduled = self._sign_ins.popleft()
                code.declined = scheduled.decline
                code.scheduled = None if scheduled.decline else scheduled.upn
                code.approve_after = scheduled.after_polls
            self._device_codes[device_code] = code
        page = f"{self._base()}/devicelogin"
        return 200, {
            "user_code": code.user_code,
            "device_code": device_code,
            "verification_uri": page,
            "expires_in": DEVICE_CODE_LIFETIME,
            "interval": self.interval,
            "message": f"To sign in, use a web browser to open the page {page} and enter the code "
            f"{code.user_code} to authenticate.",
        }

    def _scopes(self, text: str) -> tuple[tuple[str, ...], Answer | None]:
        """The delegated permissions asked for, by name; their resource must be this Graph."""
        names = []
        resource = self._base() + "/"
        for scope in text.split():
            if scope in _OIDC_SCOPES:
                continue
            if not scope.startswith(resource):
                host = scope.rsplit("/", 1)[0] if "/" in scope else scope
                return (), (
                    400,
                    identity_error(
                        "invalid_resource",
                        f"AADSTS500011: The resource principal named {host} was not found in the tenant.",
                        500011,
                    ),
                )
            names.append(scope[len(resource) :])
        if not names:
            return (), (400, identity_error("invalid_scope", "AADSTS70011: No scope for a resource.", 70011))
        return tuple(names), None

    def _device_token(self, form: dict[str, str]) -> Answer:
        with self._lock:
            code = self._device_codes.get(form.get("device_code") or form.get("code") or "")
            if code is None or code.client_id != form.get("client_id"):
                return 400, identity_error(
                    "invalid_grant", "AADSTS70000: The device code is not valid.", 70000
                )
            code.polls += 1
            if time.monotonic() > code.expires:
                return 400, identity_error(
                    "expired_token", "AADSTS70020: The provided value has expired.", 70020
                )
            if code.declined:
                return 400, identity_error(
                    "authorization_declined", "AADSTS70000: The user declined the sign-in.", 70000
                )
            upn = code.approved_by or (code.scheduled if code.polls > code.approve_after else None)
            if upn is None:
                return 400, identity_error(
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    70016,
                )
            user = self._users.get(upn)
            if user is None:
                return 400, identity_error(
                    "invalid_grant", f"AADSTS50034: The user {upn} does not exist.", 50034
                )
            del self._device_codes[form.get("device_code") or form.get("code") or ""]
        return 200, self._user_tokens(user, code.client_id, code.scopes)

    def _refresh_token(self, form: dict[str, str]) -> Answer:
        with self._lock:
            held = self._refresh.pop(form.get("refresh_token", ""), None)
        if held is None or held[1] != form.get("client_id"):
            return 400, identity_error("invalid_grant", "AADSTS70008: The refresh token has expired.", 70008)
        user = self._users[held[0]]
        return 200, self._user_tokens(user, held[1], held[2])

    def _user_tokens(self, user: DirectoryUser, client_id: str, scopes: tuple[str, ...]) -> dict[str, Any]:
        emulator = self._require_emulator()
        now = int(time.time())
        access = emulator.issue_token(
            {
                "appid": client_id,
                "idtyp": "user",
                "oid": user.id,
                "upn": user.upn,
                "scp": " ".join(scopes),
                "roles": None,
            }
        )
        refresh = secrets.token_urlsafe(48)
        with self._lock:
            self._callers[access] = _Caller(user=user, scopes=frozenset(scopes), app_id=client_id)
            self._refresh[refresh] = (user.upn, client_id, scopes)
        issuer = f"{self._base()}/{emulator.tenant_id}/v2.0"
        id_token = _unsigned_jwt(
            {
                "aud": client_id,
                "iss": issuer,
                "iat": now,
                "nbf": now,
                "exp": now + 3600,
                "oid": user.id,
                "sub": user.id,
                "tid": emulator.tenant_id,
                "preferred_username": user.upn,
                "name": user.upn.split("@")[0],
                "ver": "2.0",
            }
        )
        client_info = {"uid": user.id, "utid": emulator.tenant_id}
        return {
            "token_type": "Bearer",
            "scope": " ".join(f"{self._base()}/{name}" for name in scopes),
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": _b64url(_json(client_info)),
        }

    def _app_token(self, tenant: str, form: dict[str, str]) -> Answer:
        emulator = self._require_emulator()
        client_id = form.get("client_id", "")
        if tenant != emulator.tenant_id:
            return 400, identity_error(
                "invalid_request",
                "AADSTS90023: A tenant must be named for the client credentials grant.",
                90023,
            )
        if form.get("scope", "").split() != [f"{self._base()}/.default"]:
            return 400, identity_error(
                "invalid_scope", "AADSTS1002012: The provided value for scope is not valid.", 1002012
            )
        if "client_assertion" not in form or form.get("client_assertion_type") != JWT_BEARER:
            return 401, identity_error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided (the sandbox registers certificates only).",
                7000215,
            )
        with self._lock:
            app = next(a for a in self._data.applications.values() if a["appId"] == client_id)
            keys = [item["key"] for item in app["keyCredentials"]]
            principal = next((p for p in self._data.principals.values() if p["appId"] == client_id), None)
        certificates = [x509.load_der_x509_certificate(base64.b64decode(key)) for key in keys]
        problem = client_assertion_problem(
            form["client_assertion"],
            certificates=certificates,
            client_id=client_id,
            audience=f"{self._base()}/{emulator.tenant_id}/oauth2/v2.0/token",
        )
        if problem is not None:
            return 401, identity_error("invalid_client", f"AADSTS700027: Client assertion {problem}.", 700027)
        if principal is None:
            return 400, identity_error(
                "invalid_client",
                "AADSTS7000229: The client application is missing service principal in the tenant.",
                7000229,
            )
        roles = sorted(self._granted_values(principal["id"]))
        token = emulator.issue_token({"appid": client_id, "oid": principal["id"], "roles": roles})
        with self._lock:
            self._callers[token] = _Caller(user=None, scopes=frozenset(), app_id=client_id)
        return 200, {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }

    # -- Graph: applications -----------------------------------------------------------------------------------

    def _list_applications(self, request: RecordedRequest) -> Answer:
        return self._listed(request, "applications", self._data.applications)

    def _get_application(self, request: RecordedRequest) -> Answer:
        return self._one(request, self._data.applications)

    def _create_application(self, request: RecordedRequest) -> Answer:
        person = self._person(request, _WRITE)
        if not isinstance(person, DirectoryUser):
            return person
        if not (self.users_can_register_apps or person.roles & _REGISTRARS):
            return _forbidden()
        body = request.body if isinstance(request.body, dict) else {}
        if not str(body.get("displayName") or "").strip():
            return _bad_request("The displayName property is required.")
        keys, problem = self._key_credentials(body.get("keyCredentials") or [], existing=[])
        if problem:
            return problem
        app = _application(
            str(body["displayName"]),
            copy.deepcopy(body.get("requiredResourceAccess") or []),
            keys,
            sign_in_audience=str(body.get("signInAudience") or "AzureADMyOrg"),
        )
        object_id = app["id"]
        with self._lock:
            self._data.applications[object_id] = app
            self._data.owners[object_id] = {person.id}
            shown = _shown(app, {}, single=False)
        return 201, {"@odata.context": f"{self._base()}/v1.0/$metadata#applications/$entity", **shown}

    def _update_application(self, request: RecordedRequest) -> Answer:
        person = self._person(request, _WRITE)
        if not isinstance(person, DirectoryUser):
            return person
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            object_id = _segment(request, 2)
            app = self._data.applications.get(object_id)
            if app is None:
                return _not_found(object_id)
            if person.id not in self._data.owners.get(object_id, set()) and not person.roles & _APP_ADMINS:
                return _forbidden()
            changes: dict[str, Any] = {}
            if "keyCredentials" in body:
                keys, problem = self._key_credentials(
                    body["keyCredentials"] or [], existing=app["keyCredentials"]
                )
                if problem:
                    return problem
                changes["keyCredentials"] = keys
            for name in ("displayName", "requiredResourceAccess", "signInAudience"):
                if name in body:
                    changes[name] = copy.deepcopy(body[name])
            app.update(changes)
        return 204, None

    def _key_credentials(
        self, items: list[Any], *, existing: list[dict[str, Any]]
    ) -> tuple[list[dict], Answer | None]:
        """The keyCredentials of a create or an update, as Graph stores them; or a 400 for a bad one."""
        known = {item["keyId"]: item for item in existing}
        stored = []
        for item in items:
            if not isinstance(item, dict) or not item.get("key"):
                return [], _bad_request(
                    "Every keyCredential needs its key; read them with $select=keyCredentials to keep them."
                )
            if item.get("type") != "AsymmetricX509Cert" or item.get("usage") != "Verify":
                return [], _bad_request(
                    "A certificate credential has type AsymmetricX509Cert and usage Verify."
                )
            try:
                der = base64.b64decode(str(item["key"]), validate=True)
                certificate = x509.load_der_x509_certificate(der)
            except (ValueError, binascii.Error):
                return [], _bad_request(
                    "Invalid value specified for property 'key' of resource 'KeyCredential'."
                )
            self.uploaded_keys.append(str(item["key"]))
            # A credential sent back keeps its keyId; a new one gets one.
            key_id = str(item["keyId"]) if item.get("keyId") in known else str(uuid.uuid4())
            stored.append(
                {
                    "customKeyIdentifier": base64.b64encode(hashlib.sha1(der).digest()).decode("ascii"),  # noqa: S324 -- the thumbprint
                    "displayName": str(item.get("displayName") or certificate.subject.rfc4514_string())[:90],
                    "endDateTime": item.get("endDateTime") or _iso(certificate.not_valid_after_utc),
                    "key": base64.b64encode(der).decode("ascii"),
                    "keyId": key_id,
                    "startDateTime": item.get("startDateTime") or _iso(certificate.not_valid_before_utc),
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                }
            )
        return stored, None

    # -- Graph: service principals and app role assignments ---------------------------------------------------

    def _list_principals(self, request: RecordedRequest) -> Answer:
        return self._listed(request, "servicePrincipals", self._data.principals)

    def _get_principal(self, request: RecordedRequest) -> Answer:
        return self._one(request, self._data.principals)

    def _create_principal(self, request: RecordedRequest) -> Answer:
        person = self._person(request, _WRITE)
        if not isinstance(person, DirectoryUser):
            return person
        body = request.body if isinstance(request.body, dict) else {}
        app_id = str(body.get("appId") or "")
        with self._lock:
            app = next((a for a in self._data.applications.values() if a["appId"] == app_id), None)
            if app is None or self._slow_replication:
                self._slow_replication = False
                return _bad_request(
                    f"The appId '{app_id}' of the service principal does not reference a valid application object."
                )
            owner = person.id in self._data.owners.get(app["id"], set())
            if not (owner or person.roles & _APP_ADMINS):
                return _forbidden()
            if any(p["appId"] == app_id for p in self._data.principals.values()):
                return 409, graph_error(
                    409,
                    "Another object with the same value for property appId already exists.",
                    "Request_MultipleObjectsWithSameKeyValue",
                )
            principal = _principal(str(uuid.uuid4()), app_id, app["displayName"], [], [])
            self._data.principals[principal["id"]] = principal
        return 201, {
            "@odata.context": f"{self._base()}/v1.0/$metadata#servicePrincipals/$entity",
            **principal,
        }

    def _list_assignments(self, request: RecordedRequest) -> Answer:
        denied = self._refused(request, _READ)
        if denied:
            return denied
        principal_id = _segment(request, 2)
        with self._lock:
            if principal_id not in self._data.principals:
                return _not_found(principal_id)
            value = [
                copy.deepcopy(a) for a in self._data.assignments.values() if a["principalId"] == principal_id
            ]
        context = f"{self._base()}/v1.0/$metadata#servicePrincipals('{principal_id}')/appRoleAssignments"
        return 200, {"@odata.context": context, "value": value}

    def _assign(self, request: RecordedRequest) -> Answer:
        return self._grant(request, principal_in_path=True)

    def _assign_to(self, request: RecordedRequest) -> Answer:
        return self._grant(request, principal_in_path=False)

    def _grant(self, request: RecordedRequest, *, principal_in_path: bool) -> Answer:
        person = self._person(request, _GRANT)
        if not isinstance(person, DirectoryUser):
            return person
        body = request.body if isinstance(request.body, dict) else {}
        in_path = _segment(request, 2)
        principal_id, resource_id = str(body.get("principalId") or ""), str(body.get("resourceId") or "")
        if (principal_id if principal_in_path else resource_id) != in_path:
            which = "principalId" if principal_in_path else "resourceId"
            return _bad_request(f"The {which} of the assignment must be the service principal in the URL.")
        with self._lock:
            principal = self._data.principals.get(principal_id)
            resource = self._data.principals.get(resource_id)
            if principal is None or resource is None:
                return _not_found(principal_id if principal is None else resource_id)
            role = next((r for r in resource["appRoles"] if r["id"] == body.get("appRoleId")), None)
            if role is None or "Application" not in role["allowedMemberTypes"]:
                return _bad_request("Permission being assigned was not found on application")
            consenters = (
                _GRAPH_CONSENTERS if resource["appId"] == GRAPH_APP_ID else _GRAPH_CONSENTERS | _APP_ADMINS
            )
            if not person.roles & consenters:
                return _forbidden()
            if any(
                a["principalId"] == principal_id
                and a["resourceId"] == resource_id
                and a["appRoleId"] == role["id"]
                for a in self._data.assignments.values()
            ):
                return 409, graph_error(
                    409, "Permission being assigned already exists on the object", "Request_BadRequest"
                )
            assignment = {
                "id": base64.urlsafe_b64encode(secrets.token_bytes(24)).decode("ascii").rstrip("="),
                "deletedDateTime": None,
                "appRoleId": role["id"],
                "createdDateTime": _now(),
                "principalDisplayName": principal["displayName"],
                "principalId": principal_id,
                "principalType": "ServicePrincipal",
                "resourceDisplayName": resource["displayName"],
                "resourceId": resource_id,
            }
            self._data.assignments[assignment["id"]] = assignment
        context = f"{self._base()}/v1.0/$metadata#servicePrincipals('{in_path}')/appRoleAssignments/$entity"
        return 201, {"@odata.context": context, **assignment}

    # -- inside ------------------------------------------------------------------------------------------------

    def _listed(
        self, request: RecordedRequest, collection: str, objects: dict[str, dict[str, Any]]
    ) -> Answer:
        denied = self._refused(request, _READ)
        if denied:
            return denied
        with self._lock:
            found, problem = _filtered(objects.values(), request.query)
            if problem:
                return problem
            value = [_shown(item, request.query, single=False) for item in found]
        return 200, {"@odata.context": f"{self._base()}/v1.0/$metadata#{collection}", "value": value}

    def _one(self, request: RecordedRequest, objects: dict[str, dict[str, Any]]) -> Answer:
        denied = self._refused(request, _READ)
        if denied:
            return denied
        with self._lock:
            item = objects.get(_segment(request, 2))
            if item is None:
                return _not_found(_segment(request, 2))
            return 200, _shown(item, request.query, single=True)

    def _granted_values(self, principal_id: str) -> set[str]:
        with self._lock:
            graph_roles = {
                r["id"]: r["value"] for r in self._data.principals[self.graph_principal_id]["appRoles"]
            }
            return {
                graph_roles[a["appRoleId"]]
                for a in self._data.assignments.values()
                if a["principalId"] == principal_id and a["resourceId"] == self.graph_principal_id
            }

    def _caller(self, request: RecordedRequest) -> _Caller | None:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        with self._lock:
            return self._callers.get(token)

    def _person(self, request: RecordedRequest, scopes: frozenset[str]) -> DirectoryUser | Answer:
        """The person making the request with one of `scopes`, or the 403 for anyone else."""
        caller = self._caller(request)
        if caller is None or caller.user is None or not caller.scopes & scopes:
            return _forbidden()
        return caller.user

    def _refused(self, request: RecordedRequest, scopes: frozenset[str]) -> Answer | None:
        """403 unless a person signed in with one of `scopes` makes the request (an app may do none of this)."""
        person = self._person(request, scopes)
        return None if isinstance(person, DirectoryUser) else person

    def _base(self) -> str:
        return self._require_emulator().base_url

    def _require_emulator(self) -> GraphEmulator:
        if self._emulator is None:
            raise RuntimeError("attach the directory to a GraphEmulator first")
        return self._emulator


def _application(
    name: str,
    access: list[dict[str, Any]],
    keys: list[dict[str, Any]],
    *,
    sign_in_audience: str = "AzureADMyOrg",
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "appId": str(uuid.uuid4()),
        "displayName": name,
        "signInAudience": sign_in_audience,
        "createdDateTime": _now(),
        "publisherDomain": "sandbox.onmicrosoft.com",
        "requiredResourceAccess": access,
        "keyCredentials": keys,
        "passwordCredentials": [],
        "identifierUris": [],
        "tags": [],
        "appRoles": [],
    }


def _graph_principal(object_id: str, role_names: Iterable[str]) -> dict[str, Any]:
    roles = [
        {
            "allowedMemberTypes": ["Application"],
            "description": f"Allows the app to use {name} without a signed-in user.",
            "displayName": name,
            "id": str(uuid.uuid4()),
            "isEnabled": True,
            "origin": "Application",
            "value": name,
        }
        for name in role_names
    ]
    scopes = [
        {
            "adminConsentDescription": f"Allows the app to use {name} as the signed-in user.",
            "adminConsentDisplayName": name,
            "id": str(uuid.uuid4()),
            "isEnabled": True,
            "type": "Admin",
            "value": name,
        }
        for name in GRAPH_SCOPES
    ]
    return _principal(object_id, GRAPH_APP_ID, "Microsoft Graph", roles, scopes)


def _principal(
    object_id: str, app_id: str, name: str, roles: list[dict[str, Any]], scopes: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": object_id,
        "accountEnabled": True,
        "appDisplayName": name,
        "appId": app_id,
        "appRoleAssignmentRequired": False,
        "appRoles": roles,
        "displayName": name,
        "keyCredentials": [],
        "oauth2PermissionScopes": scopes,
        "passwordCredentials": [],
        "servicePrincipalNames": [app_id],
        "servicePrincipalType": "Application",
        "tags": [],
    }


def _filtered(
    items: Iterable[dict[str, Any]], query: dict[str, str]
) -> tuple[list[dict[str, Any]], Answer | None]:
    text = query.get("$filter")
    if text is None:
        return list(items), None
    match = _FILTER.match(text)
    if match is None:
        return [], _bad_request("Invalid filter clause: the sandbox filters on appId or displayName eq only.")
    name, value = match.group(1), match.group(2).replace("''", "'")
    return [item for item in items if item.get(name) == value], None


def _shown(item: dict[str, Any], query: dict[str, str], *, single: bool) -> dict[str, Any]:
    """An object as Graph returns it: only the `$select`-ed properties; a keyCredential's `key` only when
    keyCredentials is selected on one object."""
    selected = [name.strip() for name in query.get("$select", "").split(",") if name.strip()]
    shown = (
        {name: copy.deepcopy(item[name]) for name in selected if name in item}
        if selected
        else copy.deepcopy(item)
    )
    if "keyCredentials" in shown and not (single and "keyCredentials" in selected):
        shown["keyCredentials"] = [{**key, "key": None} for key in shown["keyCredentials"]]
    return shown


def _segment(request: RecordedRequest, index: int) -> str:
    return request.path.strip("/").split("/")[index]


def _forbidden() -> Answer:
    return 403, graph_error(403, _DENIED, "Authorization_RequestDenied")


def _bad_request(message: str) -> Answer:
    return 400, graph_error(400, message, "Request_BadRequest")


def _not_found(object_id: str) -> Answer:
    return 404, graph_error(
        404,
        f"Resource '{object_id}' does not exist or one of its queried reference-property "
        "objects are not present.",
        "Request_ResourceNotFound",
    )


def _now() -> str:
    return _iso(dt.datetime.now(dt.UTC))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    """An id token as MSAL reads it (1.38+ no longer checks its signature): signed by nobody."""
    return ".".join(
        (
            _b64url(_json({"typ": "JWT", "alg": "RS256", "kid": "sandbox"})),
            _b64url(_json(claims)),
            _b64url(secrets.token_bytes(64)),
        )
    )
