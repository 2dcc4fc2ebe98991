"""App registrations in Microsoft Entra, through Graph, as a signed-in administrator sees them: what
`phishbot setup microsoft` reads and creates (the running bot never calls these).

Each call is one documented Graph v1.0 request under the one retry policy (`transport.GraphTransport`):
applications (list by displayName, create, read its keyCredentials, update), service principals (find by
appId, create), and app role assignments (list, grant). A 403 — Graph's `Authorization_RequestDenied` — becomes
`MissingPrivilege`, whose message names the Microsoft Entra role the signed-in person needs for that step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.microsoft.errors import GraphError
from bot.microsoft.outlook import odata_string
from bot.microsoft.transport import GraphTransport, path_segment

# The Microsoft Graph application: the same appId in every tenant and every national cloud.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_MAX_PAGES = 20

# Who may do each step (Microsoft Entra built-in roles, least privileged first; learn.microsoft.com,
# "Least privileged roles by task"): the words of a MissingPrivilege.
READ_ROLE = "read app registrations (any member of the tenant may; a guest needs Directory Readers)"
REGISTER_ROLE = (
    "register applications: Application Developer, Application Administrator or Cloud Application "
    "Administrator (or 'Users can register applications' turned on for the tenant)"
)
UPDATE_ROLE = "change this app registration: be one of its owners, or Cloud Application Administrator"
CONSENT_ROLE = (
    "grant admin consent to Microsoft Graph application permissions: Privileged Role Administrator "
    "(or Global Administrator); Cloud Application Administrator and Application Administrator cannot "
    "consent to Microsoft Graph's application permissions"
)


class MissingPrivilege(GraphError):
    """Graph answered 403: the signed-in person lacks the Entra role (or the sign-in the permission) for a step."""


@dataclass(frozen=True)
class AppRole:
    id: str
    value: str
    enabled: bool
    for_applications: bool


@dataclass(frozen=True)
class ServicePrincipal:
    id: str
    app_id: str
    display_name: str
    app_roles: tuple[AppRole, ...] = ()


@dataclass(frozen=True)
class Registration:
    """An app registration (the `application` object): `id` is its object id, `app_id` the client id."""

    id: str
    app_id: str
    display_name: str
    required_resource_access: list[dict[str, Any]] = field(default_factory=list)


class EntraApps:
    """The Graph calls of `phishbot setup microsoft`, for the signed-in administrator's token."""

    def __init__(self, transport: GraphTransport) -> None:
        self._transport = transport

    def service_principal(self, app_id: str, *, with_roles: bool = False) -> ServicePrincipal | None:
        """The service principal of `app_id` in this tenant (with its appRoles when asked), or None."""
        select = "id,appId,displayName" + (",appRoles" if with_roles else "")
        found = self._list(
            "/v1.0/servicePrincipals",
            {"$filter": f"appId eq {odata_string(app_id)}", "$select": select},
            READ_ROLE,
        )
        return _service_principal(found[0]) if found else None

    def applications_named(self, display_name: str) -> list[Registration]:
        found = self._list(
            "/v1.0/applications",
            {
                "$filter": f"displayName eq {odata_string(display_name)}",
                "$select": "id,appId,displayName,requiredResourceAccess",
            },
            READ_ROLE,
        )
        return [_registration(item) for item in found]

    def key_credentials(self, registration: Registration) -> list[dict[str, Any]]:
        """The app's certificate credentials with their public keys (Graph returns `key` only when
        keyCredentials is $select-ed on a single application)."""
        path = f"/v1.0/applications/{path_segment(registration.id)}"
        answer = self._send("GET", path, READ_ROLE, params={"$select": "keyCredentials"})
        return [item for item in answer.get("keyCredentials") or [] if isinstance(item, dict)]

    def create_application(self, body: dict[str, Any]) -> Registration:
        return _registration(self._send("POST", "/v1.0/applications", REGISTER_ROLE, json=body))

    def update_application(self, registration: Registration, changes: dict[str, Any]) -> None:
        path = f"/v1.0/applications/{path_segment(registration.id)}"
        self._send("PATCH", path, UPDATE_ROLE, json=changes)

    def create_service_principal(self, app_id: str) -> ServicePrincipal:
        answer = self._send("POST", "/v1.0/servicePrincipals", REGISTER_ROLE, json={"appId": app_id})
        return _service_principal(answer)

    def role_assignments(self, principal: ServicePrincipal) -> list[dict[str, Any]]:
        """The app roles granted to `principal` (its application permissions with admin consent)."""
        path = f"/v1.0/servicePrincipals/{path_segment(principal.id)}/appRoleAssignments"
        return self._list(path, {}, READ_ROLE)

    def grant(self, principal: ServicePrincipal, resource: ServicePrincipal, role: AppRole) -> None:
        """Admin consent to one application permission: an app role assignment of `resource`'s `role`."""
        path = f"/v1.0/servicePrincipals/{path_segment(principal.id)}/appRoleAssignments"
        body = {"principalId": principal.id, "resourceId": resource.id, "appRoleId": role.id}
        self._send("POST", path, CONSENT_ROLE, json=body)

    # -- inside ------------------------------------------------------------------------------------------------

    def _list(self, path: str, params: dict[str, str], role: str) -> list[dict[str, Any]]:
        try:
            return self._transport.collect(path, params, label=f"GET {path}", max_pages=_MAX_PAGES)
        except GraphError as exc:
            raise _refusal(exc, role) from None

    def _send(
        self,
        method: str,
        path: str,
        role: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            return self._transport.send(method, path, json=json, params=params, label=f"{method} {path}")
        except GraphError as exc:
            raise _refusal(exc, role) from None


def _refusal(exc: GraphError, role: str) -> GraphError:
    """A 403 as the role the signed-in person lacks for this step; any other failure as it was."""
    if exc.status != 403:
        return exc
    return MissingPrivilege(
        f"{exc}; the signed-in account must be allowed to {role}",
        status=403,
        code=exc.code,
        operation=exc.operation,
    )


def _service_principal(item: dict[str, Any]) -> ServicePrincipal:
    roles = tuple(
        AppRole(
            id=str(role.get("id") or ""),
            value=str(role.get("value") or ""),
            enabled=bool(role.get("isEnabled", True)),
            for_applications="Application" in (role.get("allowedMemberTypes") or []),
        )
        for role in item.get("appRoles") or []
        if isinstance(role, dict)
    )
    return ServicePrincipal(
        id=str(item.get("id") or ""),
        app_id=str(item.get("appId") or ""),
        display_name=str(item.get("displayName") or ""),
        app_roles=roles,
    )


def _registration(item: dict[str, Any]) -> Registration:
    return Registration(
        id=str(item.get("id") or ""),
        app_id=str(item.get("appId") or ""),
        display_name=str(item.get("displayName") or ""),
        required_resource_access=[
            entry for entry in item.get("requiredResourceAccess") or [] if isinstance(entry, dict)
        ],
    )
