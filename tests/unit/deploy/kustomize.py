"""A small kustomize: what `kubectl kustomize` does with the kustomizations under deploy/kubernetes/, for machines
without kubectl (CI renders with it and validates the result: .ci/check-deploy). It knows `resources` (files and
folders with a kustomization of their own), `namespace`, `images` and `patches` in the JSON 6902 form, and refuses
any other field, so a kustomization it cannot render fails instead of being rendered wrong.
tests/unit/deploy/test_kubernetes.py compares its output with kubectl's where kubectl is installed.

    python tests/unit/deploy/kustomize.py FOLDER  # prints the rendered manifests, as kubectl kustomize does
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

FIELDS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
# The kinds of deploy/kubernetes/ that live outside any namespace.
CLUSTER_SCOPED = {"Namespace"}
POD_TEMPLATES = {"Deployment": ("spec", "template"), "Job": ("spec", "template")}


class KustomizeError(Exception):
    pass


def render(folder: Path) -> list[dict[str, Any]]:
    path = folder / "kustomization.yaml"
    kustomization = yaml.safe_load(path.read_text())
    unknown = set(kustomization) - FIELDS
    if unknown:
        raise KustomizeError(f"{path}: this renderer does not know {', '.join(sorted(unknown))}")
    if kustomization.get("kind") != "Kustomization":
        raise KustomizeError(f"{path}: not a Kustomization")
    objects: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        resource = (folder / entry).resolve()
        if resource.is_dir():
            objects.extend(render(resource))
        elif resource.is_file():
            objects.extend(doc for doc in yaml.safe_load_all(resource.read_text()) if doc)
        else:
            raise KustomizeError(f"{path}: no such resource {entry}")
    for patch in kustomization.get("patches", []):
        _patch(objects, patch, folder)
    if "namespace" in kustomization:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    for image in kustomization.get("images", []):
        _set_image(objects, image)
    return objects


def _patch(objects: list[dict[str, Any]], patch: dict[str, Any], folder: Path) -> None:
    if set(patch) - {"target", "patch", "path"} or set(patch["target"]) - {"kind", "name"}:
        raise KustomizeError(f"a patch this renderer does not know: {patch}")
    operations = yaml.safe_load(patch["patch"] if "patch" in patch else (folder / patch["path"]).read_text())
    if not isinstance(operations, list):
        raise KustomizeError(f"only JSON 6902 patches (a list of operations): {patch}")
    target = patch["target"]
    matched = [
        obj
        for obj in objects
        if obj["kind"] == target.get("kind", obj["kind"])
        and obj["metadata"]["name"] == target.get("name", obj["metadata"]["name"])
    ]
    if not matched:
        raise KustomizeError(f"a patch's target matches nothing: {target}")
    for obj in matched:
        for operation in operations:
            apply_operation(obj, operation)


def apply_operation(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """One JSON Patch (RFC 6902) operation: add, replace or remove."""
    op, pointer = operation["op"], operation["path"]
    if op not in {"add", "replace", "remove"}:
        raise KustomizeError(f"unsupported JSON patch operation {op!r}")
    keys = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    parent: Any = document
    for key in keys[:-1]:
        parent = parent[int(key)] if isinstance(parent, list) else parent[key]
    last = keys[-1]
    value = copy.deepcopy(operation.get("value"))
    if isinstance(parent, list):
        if op == "add":
            parent.insert(len(parent) if last == "-" else int(last), value)
        elif op == "replace":
            parent[int(last)] = value
        else:
            del parent[int(last)]
        return
    if op in {"replace", "remove"} and last not in parent:
        raise KustomizeError(f"{pointer}: nothing there to {op}")
    if op == "remove":
        del parent[last]
    else:
        parent[last] = value


def _set_image(objects: list[dict[str, Any]], image: dict[str, Any]) -> None:
    if set(image) - {"name", "newName", "newTag"}:
        raise KustomizeError(f"an image entry this renderer does not know: {image}")
    for obj in objects:
        template_path = POD_TEMPLATES.get(obj["kind"])
        if template_path is None:
            continue
        spec = obj
        for key in template_path:
            spec = spec[key]
        for container in spec["spec"].get("containers", []) + spec["spec"].get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        objects = render(Path(argv[0]))
    except KustomizeError as exc:
        print(f"kustomize.py: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
