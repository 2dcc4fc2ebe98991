"""deploy/kubernetes/, rendered as kustomize renders it (tests/unit/deploy/kustomize.py; its output is compared
with `kubectl kustomize` where kubectl is installed): each kustomization lists every manifest beside it, and what
the cluster gets keeps the contract of the image and of the bot — the port, the probes' paths, the non-root
user, the configuration keys. The schemas are checked in CI (.ci/check-deploy: kubernetes-validate --strict)."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from kustomize import KustomizeError, apply_operation, render

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[3]
KUBERNETES = ROOT / "deploy/kubernetes"
BASE = KUBERNETES / "base"
OVERLAYS = sorted(path.parent for path in (KUBERNETES / "overlays").glob("*/kustomization.yaml"))
FOLDERS = [BASE, *OVERLAYS]
POD_KINDS = {"Deployment": "bot", "Job": "migrate"}


def by_kind(objects: list[dict]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for obj in objects:
        assert obj["kind"] not in found, f"two {obj['kind']}s"
        found[obj["kind"]] = obj
    return found


def pod_specs(objects: list[dict]) -> list[dict]:
    return [obj["spec"]["template"]["spec"] for obj in objects if obj["kind"] in POD_KINDS]


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_each_kustomization_lists_every_manifest_beside_it(folder):
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    files = {path.name for path in folder.glob("*.yaml")} - {"kustomization.yaml"}
    listed = [entry for entry in kustomization["resources"] if not entry.startswith("..")]
    assert sorted(listed) == sorted(files)
    assert len(listed) == len(set(listed))


def test_there_is_a_socket_mode_overlay():
    assert [folder.name for folder in OVERLAYS] == ["socket-mode"]


@pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not installed: nothing to compare with"
)
@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_the_renderer_agrees_with_kubectl_kustomize(folder):
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60, check=True
    ).stdout

    def keyed(objects):
        return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in objects}

    assert keyed(render(folder)) == keyed(doc for doc in yaml.safe_load_all(rendered) if doc)


def test_the_renderer_refuses_what_it_does_not_know(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\ncommonLabels: {a: b}\n"
    )
    with pytest.raises(KustomizeError, match="commonLabels"):
        render(tmp_path)
    document = {"data": {"A": "1"}, "list": [1, 2]}
    apply_operation(document, {"op": "replace", "path": "/data/A", "value": "2"})
    apply_operation(document, {"op": "add", "path": "/list/-", "value": 3})
    apply_operation(document, {"op": "remove", "path": "/list/0"})
    assert document == {"data": {"A": "2"}, "list": [2, 3]}
    with pytest.raises(KustomizeError):
        apply_operation(document, {"op": "replace", "path": "/data/B", "value": "x"})


def test_the_base_runs_two_replicas_with_probes_on_the_bots_port():
    objects = by_kind(render(BASE))
    deployment = objects["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["run"]
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": Settings.model_fields["port"].default}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert objects["ConfigMap"]["data"]["PORT"] == str(port["containerPort"])
    # On SIGTERM phishbot exits within 30 s: the grace period leaves room for it.
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 30


def test_the_service_and_the_budget_select_the_bots_pods():
    objects = by_kind(render(BASE))
    pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert objects["Service"]["spec"]["ports"][0]["targetPort"] == "http"
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    migrate_labels = objects["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not objects["Service"]["spec"]["selector"].items() <= migrate_labels.items()


def test_the_migrate_job_runs_migrate_with_the_same_configuration():
    objects = by_kind(render(BASE))
    (job_container,) = objects["Job"]["spec"]["template"]["spec"]["containers"]
    (bot_container,) = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert job_container["args"] == ["migrate"]
    assert job_container["image"] == bot_container["image"]
    assert (
        job_container["envFrom"]
        == bot_container["envFrom"]
        == [
            {"configMapRef": {"name": "phishbot-config"}},
            {"secretRef": {"name": "phishbot-secrets"}},
        ]
    )
    assert objects["Job"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_every_pod_runs_as_the_images_user_read_only_with_resource_bounds(folder):
    dockerfile_user = next(
        line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("USER ")
    )
    specs = pod_specs(render(folder))
    assert len(specs) == 2
    for spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert f"{pod['runAsUser']}:{pod['runAsGroup']}" == dockerfile_user
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        mounts = {}
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True
            assert security["allowPrivilegeEscalation"] is False
            assert security["capabilities"] == {"drop": ["ALL"]}
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory"}
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        # The only writable places: /tmp and the image's working directory.
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]] and "emptyDir" in volumes[mounts["/data"]]
        certificate = volumes[mounts["/run/phishbot"]]["secret"]
        assert certificate["optional"] is True and certificate["defaultMode"] == 0o440


def test_the_configmap_holds_settings_of_the_contract_and_no_secret():
    config = by_kind(render(BASE))["ConfigMap"]["data"]
    aliases = {info.alias for info in Settings.model_fields.values()}
    assert set(config) <= aliases
    secret_fields = {
        info.alias for info in Settings.model_fields.values() if "SecretStr" in str(info.annotation)
    }
    assert secret_fields and not secret_fields & set(config)
    assert "DATABASE_URL" not in config  # its password makes it a secret
    assert config["PHISHBOT_MODE"] == "http"


def test_the_socket_mode_overlay_changes_the_mode_namespace_and_image_only():
    base = {(o["kind"], o["metadata"]["name"]): o for o in render(BASE)}
    overlay = {(o["kind"], o["metadata"]["name"]): o for o in render(KUBERNETES / "overlays/socket-mode")}
    assert overlay[("ConfigMap", "phishbot-config")]["data"]["PHISHBOT_MODE"] == "socket"
    assert overlay.pop(("Namespace", "phishbot"))["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"
    ] == ("restricted")
    assert overlay.keys() == base.keys()
    assert {obj["metadata"]["namespace"] for obj in overlay.values()} == {"phishbot"}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for spec in pod_specs(list(overlay.values())):
        assert spec["containers"][0]["image"] == f"registry.example.com/security/phishbot:{version}"
