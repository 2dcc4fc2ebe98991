"""`phishbot setup microsoft` against the Graph emulator and its directory: an administrator signs in with a code,
the app registration gets exactly the README's permissions (resolved by name), a certificate made here (only its
public half uploaded, the PEM 0600), its service principal and admin consent; a re-run changes nothing or only
what is missing; `--dry-run` changes nothing; a missing role gets a message naming it; nothing printed is secret.
Every Graph request is checked against the OpenAPI subsets (the `graph` fixture)."""

from __future__ import annotations

import base64
import io
import re
import stat
from pathlib import Path

import pytest
from conftest import ADMIN, APP_ADMIN, setup_endpoints
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bot.config import load_endpoints
from bot.runtime.doctor import DEFENDER_PURGE, HUNTING, MAIL_READ, MAILBOX_PURGE, SUBMISSION
from bot.runtime.setup_microsoft import APPLICATION_PERMISSIONS, Options, run_setup_microsoft
from bot.sandbox.entra_emulator import GRAPH_APP_ID, EntraDirectory

ROOT = Path(__file__).resolve().parents[3]


def run_setup(entra, slack_or_none, graph, tls, tmp_path, *, who=ADMIN, sign_in=True, **options):
    """One run, in this process; `who` signs in after the command's first poll (it sees authorization_pending)."""
    if sign_in:
        entra.sign_in_next(who, after_polls=1)
    endpoints = {k: v for k, v in setup_endpoints(slack_or_none, graph, tls).items() if k != "SLACK_API_URL"}
    out = io.StringIO()
    code = run_setup_microsoft(
        Options(certificate=tmp_path / "phishbot-microsoft.pem", **options),
        load_endpoints(**endpoints),
        out=out,
        sleep=lambda _seconds: None,
    )
    return code, out.getvalue()


class _NoSlack:
    api_url = "https://slack.invalid/api/"


NO_SLACK = _NoSlack()


def printed_settings(output: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in output.splitlines() if re.match(r"^[A-Z_]+=\S", line))


def graph_roles(entra) -> dict[str, str]:
    """Microsoft Graph's application permissions in this directory: name -> id (random per directory)."""
    principal = entra.principal_of(GRAPH_APP_ID)
    return {role["value"]: role["id"] for role in principal["appRoles"]}


def changes(graph) -> list[str]:
    return [f"{r.method} {r.path}" for r in graph.graph_requests() if r.method != "GET"]


def assert_nothing_secret(output: str, graph, pem: Path | None) -> None:
    for token in graph.issued_tokens:
        assert token not in output
    assert "PRIVATE KEY" not in output
    if pem is not None and pem.exists():
        key_lines = pem.read_text().split("-----END PRIVATE KEY-----")[0].splitlines()[1:]
        assert not any(line in output for line in key_lines if len(line) > 16)


def test_the_permissions_are_the_readmes_table_and_each_is_one_the_doctor_looks_for():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| permission | what for |") :].split("\n\n")[0]
    listed = re.findall(r"^\s*\| `([A-Za-z.]+)`", table, flags=re.MULTILINE)
    assert tuple(listed) == APPLICATION_PERMISSIONS
    features = (SUBMISSION, HUNTING, DEFENDER_PURGE, MAILBOX_PURGE, MAIL_READ)
    wanted = {role for feature in features for role in feature.roles}
    assert wanted == set(APPLICATION_PERMISSIONS)


def test_a_first_run_registers_the_app_and_prints_the_ms_lines(entra, graph, tls, tmp_path):
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output

    [app] = entra.applications()
    assert app["displayName"] == "phishbot" and app["signInAudience"] == "AzureADMyOrg"
    roles = graph_roles(entra)
    [graph_access] = app["requiredResourceAccess"]
    assert graph_access["resourceAppId"] == GRAPH_APP_ID
    # Exactly the README's permissions, as application permissions (appRoles, type Role) looked up by name: the
    # directory's ids are random, and its delegated Mail.Read has an id of its own.
    assert sorted(graph_access["resourceAccess"], key=lambda a: a["id"]) == sorted(
        ({"id": roles[name], "type": "Role"} for name in APPLICATION_PERMISSIONS), key=lambda a: a["id"]
    )
    assert entra.granted(app["appId"]) == set(APPLICATION_PERMISSIONS)

    pem = tmp_path / "phishbot-microsoft.pem"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    certificate = x509.load_pem_x509_certificate(pem.read_bytes())
    serialization.load_pem_private_key(pem.read_bytes(), password=None)
    # Only the certificate went to Microsoft.
    [key] = app["keyCredentials"]
    assert base64.b64decode(key["key"]) == certificate.public_bytes(serialization.Encoding.DER)
    assert entra.uploaded_keys and all(
        x509.load_der_x509_certificate(base64.b64decode(uploaded)) for uploaded in entra.uploaded_keys
    )
    assert not any("PRIVATE" in str(r.body) for r in graph.requests)

    settings = printed_settings(output)
    assert settings["MS_TENANT_ID"] == graph.tenant_id
    assert settings["MS_CLIENT_ID"] == app["appId"]
    assert settings["MS_CLIENT_CERTIFICATE"] == str(pem.resolve())
    assert settings["MS_AUTHORITY_HOST"] == graph.base_url and settings["GRAPH_URL"] == graph.base_url
    assert "Run `phishbot doctor`" in output
    assert "--without SecurityAnalyzedMessage.ReadWrite.All" in output  # the Plan 2 step
    assert_nothing_secret(output, graph, pem)

    # The sign-in was a device code: the first poll heard authorization_pending, the second got the token.
    polls = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert [r.status for r in polls] == [400, 200]
    assert all(r.body.get("device_code") == "***" for r in polls)
    [asked] = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/devicecode")]
    assert sorted(s.rsplit("/", 1)[-1] for s in asked.body["scope"].split() if "/" in s) == [
        "AppRoleAssignment.ReadWrite.All",
        "Application.ReadWrite.All",
    ]


def test_a_second_run_finds_everything_and_changes_nothing(entra, graph, tls, tmp_path):
    assert run_setup(entra, NO_SLACK, graph, tls, tmp_path)[0] == 0
    before = (entra.applications(), entra.principal_of(entra.applications()[0]["appId"]))
    pem = (tmp_path / "phishbot-microsoft.pem").read_bytes()
    made = len(changes(graph))

    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    assert "Nothing to change" in output
    assert changes(graph)[made:] == []  # reads only
    assert (entra.applications(), entra.principal_of(entra.applications()[0]["appId"])) == before
    assert (tmp_path / "phishbot-microsoft.pem").read_bytes() == pem
    assert printed_settings(output)["MS_CLIENT_ID"] == before[0][0]["appId"]


def test_a_run_adds_only_what_is_missing(entra, graph, tls, tmp_path):
    code, _ = run_setup(entra, NO_SLACK, graph, tls, tmp_path, without=("Mail.Read",))
    assert code == 0
    [app] = entra.applications()
    assert entra.granted(app["appId"]) == set(APPLICATION_PERMISSIONS) - {"Mail.Read"}
    made = len(changes(graph))

    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    new = changes(graph)[made:]
    principal = entra.principal_of(app["appId"])
    assert new == [
        f"PATCH /v1.0/applications/{app['id']}",
        f"POST /v1.0/servicePrincipals/{principal['id']}/appRoleAssignments",
    ]
    assert entra.granted(app["appId"]) == set(APPLICATION_PERMISSIONS)
    patch = [r for r in graph.graph_requests() if r.method == "PATCH"][-1]
    assert set(patch.body) == {"requiredResourceAccess"}  # the certificate was not touched

    # A lost PEM: a new key and certificate, added next to the one already registered (which stays).
    (tmp_path / "phishbot-microsoft.pem").unlink()
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    [app] = entra.applications()
    assert len(app["keyCredentials"]) == 2
    assert "uploaded the certificate" in output


def test_dry_run_reads_prints_the_plan_and_changes_nothing(entra, graph, tls, tmp_path):
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path, dry_run=True)
    assert code == 0, output
    assert "Would change:" in output and "Dry run: nothing was changed" in output
    assert 'create the app registration "phishbot"' in output
    assert "grant admin consent: " + ", ".join(APPLICATION_PERMISSIONS) in output
    assert entra.applications() == []
    assert not (tmp_path / "phishbot-microsoft.pem").exists()
    assert changes(graph) == []
    [asked] = [r for r in graph.requests if r.path.endswith("/oauth2/v2.0/devicecode")]
    assert asked.body["scope"].split()[0].endswith("/Application.Read.All")  # the dry run only reads

    assert run_setup(entra, NO_SLACK, graph, tls, tmp_path)[0] == 0
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path, dry_run=True)
    assert code == 0 and "Nothing to change" in output
    assert printed_settings(output)["MS_CLIENT_ID"] == entra.applications()[0]["appId"]


def test_an_administrator_who_may_not_consent_is_told_which_role_is_needed(entra, graph, tls, tmp_path):
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path, who=APP_ADMIN)
    assert code == 1
    assert "403" in output and "Authorization_RequestDenied" in output
    assert "Privileged Role Administrator" in output
    # What that role may do is done; a Privileged Role Administrator finishes it without starting over.
    [app] = entra.applications()
    assert entra.principal_of(app["appId"]) is not None and entra.granted(app["appId"]) == set()

    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    assert len(entra.applications()) == 1
    assert entra.granted(app["appId"]) == set(APPLICATION_PERMISSIONS)
    assert "created the app registration" not in output


def test_a_new_app_still_replicating_stops_with_run_again(entra, graph, tls, tmp_path):
    entra.replicate_slowly()
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 1
    assert "run the same command again" in output
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    assert len(entra.applications()) == 1 and "created the service principal" in output


def test_two_registrations_of_that_name_are_not_guessed_between(entra, graph, tls, tmp_path):
    assert run_setup(entra, NO_SLACK, graph, tls, tmp_path)[0] == 0
    other = entra.add_application("phishbot")  # someone made another one in the portal
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 1
    assert '2 app registrations are named "phishbot"' in output and other["appId"] in output
    assert changes(graph)[-1].startswith("POST /v1.0/servicePrincipals/")  # nothing after the first run's end


def test_a_permission_this_cloud_lacks_stops_with_the_way_round_it(graph, tls, tmp_path):
    from bot.sandbox.entra_emulator import GRAPH_APP_ROLES, PRIVILEGED_ROLE_ADMINISTRATOR

    directory = EntraDirectory(
        graph_app_roles=[r for r in GRAPH_APP_ROLES if r != "SecurityAnalyzedMessage.ReadWrite.All"]
    ).attach(graph)
    directory.add_user(ADMIN, PRIVILEGED_ROLE_ADMINISTRATOR)
    code, output = run_setup(directory, NO_SLACK, graph, tls, tmp_path)
    assert code == 1
    assert "no application permission SecurityAnalyzedMessage.ReadWrite.All" in output
    assert "--without SecurityAnalyzedMessage.ReadWrite.All" in output
    assert directory.applications() == []
    code, output = run_setup(
        directory, NO_SLACK, graph, tls, tmp_path, without=("SecurityAnalyzedMessage.ReadWrite.All",)
    )
    assert code == 0, output
    assert "SecurityAnalyzedMessage" not in str(directory.applications()[0]["requiredResourceAccess"])


def test_a_declined_sign_in_changes_nothing(entra, graph, tls, tmp_path):
    entra.decline_next()
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path, sign_in=False)
    assert code == 1 and "declined" in output
    assert entra.applications() == []


def test_only_optional_permissions_can_be_left_out(entra, graph, tls, tmp_path):
    code, output = run_setup(
        entra, NO_SLACK, graph, tls, tmp_path, without=("ThreatSubmission.ReadWrite.All",)
    )
    assert code == 1 and "--without takes" in output


@pytest.mark.parametrize("mode", [0o644])
def test_a_pem_others_can_read_is_pointed_out(entra, graph, tls, tmp_path, mode):
    assert run_setup(entra, NO_SLACK, graph, tls, tmp_path)[0] == 0
    pem = tmp_path / "phishbot-microsoft.pem"
    pem.chmod(mode)
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0 and f"chmod 600 {pem}" in output


def test_the_command_line_dry_run_then_setup_then_the_doctor_signs_in_with_what_was_printed(
    entra, slack, graph, tls, database_url, tmp_path
):
    from conftest import bot_environment, migrate_first
    from processes import run_cli

    where = setup_endpoints(slack, graph, tls)
    entra.sign_in_next(ADMIN, after_polls=0)
    dry = run_cli(["setup", "microsoft", "--dry-run"], where, tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Would change:" in dry.stdout and entra.applications() == []

    entra.sign_in_next(ADMIN, after_polls=0)
    done = run_cli(["setup", "microsoft"], where, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert stat.S_IMODE((tmp_path / "phishbot-microsoft.pem").stat().st_mode) == 0o600
    settings = printed_settings(done.stdout)
    assert_nothing_secret(done.stdout + done.stderr, graph, tmp_path / "phishbot-microsoft.pem")

    migrate_first(database_url)
    environment = bot_environment(slack, graph, tls, database_url, MS_CLIENT_SECRET=None, **settings)
    doctor = run_cli(["doctor"], environment, tmp_path)
    assert "✓ Microsoft token" in doctor.stdout, doctor.stdout
    [permissions] = [line for line in doctor.stdout.splitlines() if line.startswith("✓ Graph permissions")]
    assert all(name in permissions for name in APPLICATION_PERMISSIONS)


def test_graph_s_passing_refusals_go_through_the_one_retry_policy(entra, graph, tls, tmp_path):
    # A throttled create is sent again after its Retry-After; a token Graph refuses is renewed from the
    # sign-in's refresh token (nobody signs in twice).
    graph.fail_next("POST /v1.0/applications", status=429, retry_after=0)
    graph.fail_next("GET /v1.0/servicePrincipals", status=401)
    code, output = run_setup(entra, NO_SLACK, graph, tls, tmp_path)
    assert code == 0, output
    creates = [r for r in graph.graph_requests() if r.method == "POST" and r.path == "/v1.0/applications"]
    assert [r.status for r in creates] == [429, 201]
    assert len(entra.applications()) == 1
    grants = [r.body.get("grant_type") for r in graph.requests if r.path.endswith("/oauth2/v2.0/token")]
    assert grants.count("refresh_token") == 1
    assert grants.count("urn:ietf:params:oauth:grant-type:device_code") == 2  # pending, then signed in
