"""The directory behind the Graph emulator behaves as Microsoft Entra does where `phishbot setup microsoft` and
the bot depend on it: the device-code flow (pending, declined, expired, the resource of the scopes), who may do
what, keyCredentials' `key` only on `$select`, and an app registration's own sign-in, which verifies the client
assertion against the certificate uploaded to it and carries the app roles granted."""

from __future__ import annotations

import base64
import json

import httpx
import msal
import pytest
from conftest import ADMIN

from bot.microsoft import AuthError, GraphClient, RetryPolicy
from bot.microsoft.certificate import self_signed
from bot.sandbox.entra_emulator import GRAPH_APP_ID, GRAPH_COMMAND_LINE_TOOLS
from bot.sandbox.tls import client_context

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def http(tls):
    with httpx.Client(verify=client_context(tls.ca_file)) as client:
        yield client


def device_code(http, graph, scopes=("Application.ReadWrite.All",), client_id=GRAPH_COMMAND_LINE_TOOLS):
    scope = " ".join(f"{graph.base_url}/{s}" for s in scopes) + " openid profile offline_access"
    return http.post(
        f"{graph.base_url}/organizations/oauth2/v2.0/devicecode",
        data={"client_id": client_id, "scope": scope},
    )


def poll(http, graph, code: dict) -> httpx.Response:
    return http.post(
        f"{graph.base_url}/organizations/oauth2/v2.0/token",
        data={
            "grant_type": DEVICE_GRANT,
            "client_id": GRAPH_COMMAND_LINE_TOOLS,
            "device_code": code["device_code"],
        },
    )


def admin_token(http, graph, entra, scopes=("Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All")):
    entra.sign_in_next(ADMIN, after_polls=0)
    return poll(http, graph, device_code(http, graph, scopes).json()).json()["access_token"]


def test_a_device_code_is_pending_until_the_person_signs_in(http, graph, entra):
    code = device_code(http, graph).json()
    assert set(code) >= {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"}
    assert code["user_code"] in code["message"]
    pending = poll(http, graph, code)
    assert pending.status_code == 400 and pending.json()["error"] == "authorization_pending"
    entra.approve(code["user_code"], ADMIN)
    signed_in = poll(http, graph, code).json()
    assert signed_in["token_type"] == "Bearer" and {"access_token", "id_token", "refresh_token"} <= set(
        signed_in
    )
    claims = json.loads(msal.oauth2cli.oidc.decode_part(signed_in["id_token"].split(".")[1]))
    assert claims["tid"] == graph.tenant_id and claims["preferred_username"] == ADMIN
    access = json.loads(msal.oauth2cli.oidc.decode_part(signed_in["access_token"].split(".")[1]))
    assert (
        access["scp"] == "Application.ReadWrite.All" and access["idtyp"] == "user" and "roles" not in access
    )
    assert poll(http, graph, code).json()["error"] == "invalid_grant"  # a code signs in once


def test_a_declined_sign_in_and_an_unknown_client_are_refused(http, graph, entra):
    entra.decline_next()
    assert poll(http, graph, device_code(http, graph).json()).json()["error"] == "authorization_declined"
    unknown = device_code(http, graph, client_id="11111111-2222-3333-4444-555555555555")
    assert unknown.status_code == 400 and "AADSTS700016" in unknown.json()["error_description"]


def test_scopes_of_another_clouds_graph_are_refused(http, graph, entra):
    answer = http.post(
        f"{graph.base_url}/organizations/oauth2/v2.0/devicecode",
        data={
            "client_id": GRAPH_COMMAND_LINE_TOOLS,
            "scope": "https://graph.microsoft.com/Application.Read.All",
        },
    )
    assert answer.status_code == 400 and "AADSTS500011" in answer.json()["error_description"]


def test_reading_and_writing_need_the_delegated_permission_and_the_role(http, graph, entra):
    reader = admin_token(http, graph, entra, scopes=("Application.Read.All",))
    headers = {"Authorization": f"Bearer {reader}"}
    assert http.get(f"{graph.base_url}/v1.0/applications", headers=headers).status_code == 200
    refused = http.post(f"{graph.base_url}/v1.0/applications", json={"displayName": "x"}, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "Authorization_RequestDenied"
    # An application's own token (no person) may do none of it.
    app_only = {"Authorization": f"Bearer {graph.issue_token()}"}
    assert http.get(f"{graph.base_url}/v1.0/applications", headers=app_only).status_code == 403


def test_a_key_is_shown_only_when_selected_on_one_application(http, graph, entra):
    headers = {"Authorization": f"Bearer {admin_token(http, graph, entra)}"}
    _, certificate = self_signed("probe")
    created = http.post(
        f"{graph.base_url}/v1.0/applications",
        json={"displayName": "probe", "keyCredentials": [certificate.key_credential("CN=probe")]},
        headers=headers,
    ).json()
    assert created["keyCredentials"][0]["key"] is None
    listed = http.get(f"{graph.base_url}/v1.0/applications", headers=headers).json()["value"][0]
    assert listed["keyCredentials"][0]["key"] is None
    one = http.get(
        f"{graph.base_url}/v1.0/applications/{created['id']}",
        params={"$select": "keyCredentials"},
        headers=headers,
    ).json()
    assert base64.b64decode(one["keyCredentials"][0]["key"]) == certificate.der
    assert set(one) == {"keyCredentials"}
    # A PATCH of keyCredentials without the keys already there would drop them: Graph wants them sent back.
    dropped = http.patch(
        f"{graph.base_url}/v1.0/applications/{created['id']}",
        json={
            "keyCredentials": [{"keyId": created["keyCredentials"][0]["keyId"], "type": "AsymmetricX509Cert"}]
        },
        headers=headers,
    )
    assert dropped.status_code == 400


def test_an_app_signs_in_only_with_the_certificate_uploaded_to_it(http, graph, entra):
    headers = {"Authorization": f"Bearer {admin_token(http, graph, entra)}"}
    pem, certificate = self_signed("phishbot")
    app = http.post(
        f"{graph.base_url}/v1.0/applications",
        json={"displayName": "phishbot", "keyCredentials": [certificate.key_credential("CN=phishbot")]},
        headers=headers,
    ).json()

    def sign_in(pem_bytes: bytes) -> frozenset[str] | AuthError:
        """The bot's own sign-in (bot.microsoft.auth: MSAL, a certificate credential) as this app."""
        client = GraphClient(
            tenant_id=graph.tenant_id,
            client_id=app["appId"],
            client_certificate_pem=pem_bytes,
            authority_host=graph.base_url,
            graph_url=graph.base_url,
            verify=client_context(graph.tls.ca_file),
            retry=RetryPolicy(max_attempts=1),
        )
        with client:
            try:
                return client.granted_roles()
            except AuthError as exc:
                return exc

    assert "AADSTS7000229" in str(sign_in(pem))  # no service principal yet
    principal = http.post(
        f"{graph.base_url}/v1.0/servicePrincipals", json={"appId": app["appId"]}, headers=headers
    )
    principal = principal.json()
    graph_principal = entra.principal_of(GRAPH_APP_ID)
    role = next(r for r in graph_principal["appRoles"] if r["value"] == "ThreatSubmission.ReadWrite.All")

    def grant() -> httpx.Response:
        return http.post(
            f"{graph.base_url}/v1.0/servicePrincipals/{principal['id']}/appRoleAssignments",
            json={
                "principalId": principal["id"],
                "resourceId": graph_principal["id"],
                "appRoleId": role["id"],
            },
            headers=headers,
        )

    assert grant().status_code == 201
    assert grant().status_code == 409  # granted already

    assert sign_in(pem) == {"ThreatSubmission.ReadWrite.All"}
    other_pem, _ = self_signed("phishbot")  # same name, a key never uploaded
    refused = sign_in(other_pem)
    assert isinstance(refused, AuthError) and refused.code == "AADSTS700027"
