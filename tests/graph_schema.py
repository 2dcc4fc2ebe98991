"""Check Graph requests (and responses) against the vendored OpenAPI subsets in tests/fixtures/graph-openapi/.

`validate_graph_request(method, path, body)` is the emulator's `request_validator`; `validate_batch(body)` checks
a `$batch` envelope and, by default, every inner request; `validate_graph_response(...)` checks what a server sent.

The subsets were converted from CSDL in the style of OpenAPI.NET.OData, so plain jsonschema needs help:

* OpenAPI 3.0 `nullable` becomes a JSON Schema type union; the `anyOf [$ref, {type: object, nullable: true}]`
  idiom for a nullable reference is read as "the reference, or null" (as the generator means it), so a bad enum
  member nested in a complex type is still caught.
* Property lists never say `required`: CSDL `Nullable="false"` shows as a property without `nullable`. On a
  create (POST of an entity) such properties are required, over the whole inheritance chain (README caveat:
  `@odata.type` is never required; `id`, collections and navigation properties are not either).
* Inheritance is `allOf [$ref base, {own properties}]`; each type is flattened over its bases and closed with
  `additionalProperties: false` (an unknown property, e.g. `messageUri` for `messageUrl`, is a problem). Open
  types (those with `additionalProperties`) stay open; instance annotations (`@odata.context`) are always allowed.
* Polymorphism: the body's `@odata.type` picks the schema to check (a derived type of the declared one, with its
  base types' requirements); an unknown or unrelated `@odata.type` is a problem; abstract types cannot be created.
  Nested values of a type with subtypes dispatch on their own `@odata.type` the same way.
* Flag enums (`x-ms-enum-flags`) accept comma-joined members.
* Action parameter names are matched case-insensitively (docs send `Query`, CSDL says `query`).
* Paths accept the unqualified alias of bound actions (`/analyzedEmails/remediate`) and the qualified CSDL form
  (`/messages/{id}/microsoft.graph.move`). `/beta/$batch` uses the v1.0 `$batch` schema (README note).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "graph-openapi"
# Each version's subsets, read as one document (a later file adds paths and the components the first lacks).
_FILES = {"beta": ("beta-subset.yaml",), "v1.0": ("v1.0-subset.yaml", "v1.0-applications-subset.yaml")}
_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
_DROPPED_KEYWORDS = frozenset(
    {"nullable", "discriminator", "example", "externalDocs", "xml", "readOnly", "writeOnly", "deprecated"}
)
_ANNOTATIONS = {"@": {}}  # patternProperties: any instance annotation is allowed
_MAX_MESSAGE = 300


# --- loading and converting -----------------------------------------------------------------------------------


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


def _is_null_branch(node: Any) -> bool:
    return isinstance(node, dict) and node == {"type": "object", "nullable": True}


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (references point into this module's $defs layout)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return {"$ref": f"#/$defs/closed/{_ref_name(node['$ref'])}"}
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in _DROPPED_KEYWORDS:
            continue
        if key in ("allOf", "anyOf", "oneOf"):
            out[key] = [{"type": "null"} if _is_null_branch(item) else _convert(item) for item in value]
        elif key == "properties":
            out[key] = {name: _convert(schema) for name, schema in value.items()}
        elif key in ("items", "not"):
            out[key] = _convert(value)
        elif key == "additionalProperties":
            if value == {"type": "object"}:
                continue  # the generator's mark of an open type: any extra property is fine
            out[key] = _convert(value) if isinstance(value, dict) else value
        else:
            out[key] = value
    flags = node.get("x-ms-enum-flags")
    if isinstance(flags, dict) and flags.get("isFlags") and "enum" in out:
        members = "|".join(re.escape(str(member)) for member in out.pop("enum"))
        out["pattern"] = rf"^({members})(\s*,\s*({members}))*$"
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    return out


class _Spec:
    """One OpenAPI subset: its components as JSON Schema, its paths, and the type hierarchy."""

    def __init__(self, version: str) -> None:
        self.version = version
        self.raw: dict[str, Any] = _merged(version)
        self.components: dict[str, Any] = self.raw["components"]["schemas"]
        self.uri = f"urn:phishbot:graph-openapi:{version}"
        self.bases = {name: self._bases_of(schema) for name, schema in self.components.items()}
        self.derived: dict[str, set[str]] = {name: set() for name in self.components}
        for name in self.components:
            for ancestor in self.ancestors(name):
                self.derived[ancestor].add(name)
        self.document = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": self.uri,
            "$defs": {
                "exact": {name: self._exact(name) for name in self.components},
                "closed": {name: self._closed(name) for name in self.components},
            },
        }
        self.registry = Registry().with_resource(self.uri, Resource.from_contents(self.document))
        self.routes = self._routes()
        self._inline: dict[int, Draft202012Validator] = {}

    @staticmethod
    def _bases_of(schema: dict[str, Any]) -> list[str]:
        return [_ref_name(item["$ref"]) for item in schema.get("allOf", []) if "$ref" in item]

    def ancestors(self, name: str) -> list[str]:
        found: list[str] = []
        pending = list(self.bases.get(name, []))
        while pending:
            base = pending.pop()
            if base not in found:
                found.append(base)
                pending.extend(self.bases.get(base, []))
        return found

    def chain(self, name: str) -> list[dict[str, Any]]:
        """The own (inline) parts of a type and of all its bases."""
        parts: list[dict[str, Any]] = []
        for type_name in [name, *self.ancestors(name)]:
            schema = self.components[type_name]
            parts.append(schema)
            parts.extend(item for item in schema.get("allOf", []) if "$ref" not in item)
        return parts

    def is_object(self, name: str) -> bool:
        schema = self.components[name]
        return schema.get("type") == "object" or "allOf" in schema or "properties" in schema

    def is_open(self, name: str) -> bool:
        return any("additionalProperties" in part for part in self.chain(name))

    def is_abstract(self, name: str) -> bool:
        schema = self.components[name]
        own = [schema, *(item for item in schema.get("allOf", []) if "$ref" not in item)]
        return any(part.get("x-abstract") for part in own)

    def is_entity(self, name: str) -> bool:
        return any(part.get("x-csdl-kind") == "EntityType" for part in self.chain(name))

    def required_on_create(self, name: str, operation: dict[str, Any] | None = None) -> list[str]:
        # What the operation's documentation says a create must carry, when the subset records it; the
        # nullable heuristic below would demand every non-nullable property (an application's `logo`).
        if operation is not None and "x-required-on-create" in operation:
            return list(operation["x-required-on-create"])
        required: list[str] = []
        for part in self.chain(name):
            for prop, schema in (part.get("properties") or {}).items():
                if prop in ("id", "@odata.type") or not isinstance(schema, dict):
                    continue
                if (
                    schema.get("x-ms-navigationProperty")
                    or schema.get("readOnly")
                    or schema.get("type") == "array"
                ):
                    continue
                if schema.get("nullable") or any(_is_null_branch(b) for b in schema.get("anyOf", [])):
                    continue
                if prop not in required:
                    required.append(prop)
        return required

    def _exact(self, name: str) -> dict[str, Any]:
        """The type itself, flattened over its bases, so that `additionalProperties` can close it.

        (`unevaluatedProperties` through `allOf` would work too, but blames every property of a branch that
        failed for another reason; flattening keeps the messages true.)
        """
        if not self.is_object(name):
            return _convert(self.components[name])
        properties: dict[str, Any] = {}
        required: list[str] = []
        for part in reversed(self.chain(name)):  # bases first, so a derived type's own definition wins
            for prop, schema in (part.get("properties") or {}).items():
                properties[prop] = _convert(schema)
            required.extend(item for item in part.get("required", []) if item not in required)
        exact: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "patternProperties": _ANNOTATIONS,
        }
        if required:
            exact["required"] = required
        if not self.is_open(name):
            exact["additionalProperties"] = False
        return exact

    def _closed(self, name: str) -> dict[str, Any]:
        subtypes = sorted(self.derived[name])
        if not subtypes:
            return {"$ref": f"#/$defs/exact/{name}"}
        types = [name, *subtypes]
        return {
            "allOf": [
                {"properties": {"@odata.type": {"enum": ["#" + t for t in types]}}},
                {"if": {"not": {"required": ["@odata.type"]}}, "then": {"$ref": f"#/$defs/exact/{name}"}},
                *(
                    {
                        "if": {
                            "required": ["@odata.type"],
                            "properties": {"@odata.type": {"const": "#" + t}},
                        },
                        "then": {"$ref": f"#/$defs/exact/{t}"},
                    }
                    for t in types
                ),
            ]
        }

    def _routes(self) -> list[tuple[re.Pattern[str], int, str, dict[str, Any]]]:
        routes = []
        for template, item in self.raw["paths"].items():
            spellings = {template}
            for operation in item.values():
                if not isinstance(operation, dict):
                    continue
                for key in ("x-alias-path", "x-csdl-path"):
                    if isinstance(operation.get(key), str):
                        spellings.add(operation[key].split()[0])
            for spelling in spellings:
                segments = spelling.strip("/").split("/")
                pattern = "/".join(
                    "[^/]+" if segment.startswith("{") and segment.endswith("}") else re.escape(segment)
                    for segment in segments
                )
                literal = sum(1 for segment in segments if not segment.startswith("{"))
                routes.append((re.compile(f"^/{pattern}$"), literal, template, item))
        # Most literal segments first: `/analyzedEmails/remediate` before `/analyzedEmails/{id}`.
        routes.sort(key=lambda route: -route[1])
        return routes

    def find(self, path: str, method: str) -> tuple[str, dict[str, Any]] | str:
        matched = [(template, item) for pattern, _, template, item in self.routes if pattern.match(path)]
        if not matched:
            return f"unknown path {path!r} in Graph {self.version} (not in {', '.join(_FILES[self.version])})"
        for template, item in matched:
            operation = item.get(method.lower())
            if isinstance(operation, dict):
                return template, operation
        return f"{method} is not an operation of {matched[0][0]} in Graph {self.version}"

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({"$schema": self.document["$schema"], **schema}, registry=self.registry)

    @functools.cache  # noqa: B019 -- specs live for the whole test session
    def type_validator(self, name: str) -> Draft202012Validator:
        return self.validator({"$ref": f"{self.uri}#/$defs/exact/{name}"})

    def inline_validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        # Keyed by identity: inline schemas are parts of self.raw, which lives as long as this spec.
        key = id(schema)
        if key not in self._inline:
            self._inline[key] = self.validator(_rebase(_convert_inline(schema), self.uri))
        return self._inline[key]


def _convert_inline(schema: dict[str, Any]) -> dict[str, Any]:
    converted = _convert(schema)
    if converted.get("type") == "object" and "additionalProperties" not in schema:
        converted = {**converted, "patternProperties": _ANNOTATIONS, "additionalProperties": False}
    return converted


def _rebase(node: Any, uri: str) -> Any:
    """Point the local references of an inline schema at the spec's document."""
    if isinstance(node, list):
        return [_rebase(item, uri) for item in node]
    if isinstance(node, dict):
        return {
            key: (uri + value if key == "$ref" and value.startswith("#") else _rebase(value, uri))
            for key, value in node.items()
        }
    return node


def _merged(version: str) -> dict[str, Any]:
    """The subsets of `version` as one OpenAPI document; a name defined twice must be defined the same."""
    merged: dict[str, Any] = {}
    for file_name in _FILES[version]:
        document = yaml.safe_load((FIXTURES / file_name).read_text(encoding="utf-8"))
        if not merged:
            merged = document
            continue
        for section, items in [("paths", document.get("paths") or {})] + [
            (f"components.{key}", value) for key, value in (document.get("components") or {}).items()
        ]:
            target = merged.setdefault("components", {}) if section.startswith("components.") else merged
            key = section.partition(".")[2] or section
            existing = target.setdefault(key, {})
            for name, value in items.items():
                if name in existing and existing[name] != value:
                    raise ValueError(f"{file_name} defines {section} {name} differently")
                existing[name] = value
    return merged


@functools.cache
def _spec(version: str) -> _Spec:
    return _Spec(version)


# --- messages -------------------------------------------------------------------------------------------------


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The errors worth reporting under an anyOf/oneOf: those of the branch the value was meant for.

    A nullable reference is `anyOf [type, null]`; "is not of type 'null'" is never the useful half.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    meant = [
        errors
        for errors in branches.values()
        if not all(e.validator == "type" and e.validator_value == "null" for e in errors)
    ]
    if len(meant) == 1:
        return [leaf for sub in meant[0] for leaf in _leaves(sub)]
    chosen = best_match(error.context)
    return [chosen] if chosen is not None else [error]


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties") or {}
        unknown = [key for key in error.instance if key not in declared and "@" not in key]
        return "unknown propert" + ("y " if len(unknown) == 1 else "ies ") + ", ".join(map(repr, unknown))
    title = error.schema.get("title") if isinstance(error.schema, dict) else None
    if error.validator == "enum" and title:
        return _shorten(f"{error.instance!r}") + f" is not a member of {title}"
    if error.validator == "pattern" and title:  # only flag enums carry both
        return _shorten(f"{error.instance!r}") + f" is not a comma-joined list of {title} members"
    if error.validator in ("maxItems", "minItems") and isinstance(error.instance, list):
        return f"has {len(error.instance)} items; {error.validator} is {error.validator_value}"
    return error.message


def _problems(validator: Draft202012Validator, instance: Any, prefix: str = "") -> list[str]:
    problems = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            where = "/".join(str(part) for part in leaf.absolute_path) or "(body)"
            problems.append(_shorten(f"{prefix}{where}: {_message(leaf)}"))
    return sorted(set(problems))


# --- selecting the schema of a body ---------------------------------------------------------------------------


def _declared_types(schema: dict[str, Any]) -> list[str] | None:
    if "$ref" in schema:
        return [_ref_name(schema["$ref"])]
    options = schema.get("oneOf") or schema.get("anyOf")
    if options and all(isinstance(option, dict) and "$ref" in option for option in options):
        return [_ref_name(option["$ref"]) for option in options]
    return None


def _select_type(spec: _Spec, declared: list[str], body: Any) -> tuple[str | None, list[str]]:
    candidates: set[str] = set()
    for name in declared:
        candidates |= {name, *spec.derived[name]}
    odata_type = body.get("@odata.type") if isinstance(body, dict) else None
    if odata_type is None:
        if len(declared) == 1:
            return declared[0], []
        names = ", ".join("#" + name for name in declared)
        return None, [f"@odata.type is required here, one of: {names}"]
    if not isinstance(odata_type, str) or not odata_type.startswith("#"):
        return None, ["@odata.type must be a string like '#microsoft.graph.security.urlThreatSubmission'"]
    name = odata_type[1:]
    if name not in spec.components:
        return None, [_shorten(f"unknown @odata.type {odata_type!r} (no such type in Graph {spec.version})")]
    if name not in candidates:
        allowed = ", ".join(sorted("#" + c for c in candidates))
        return None, [_shorten(f"@odata.type {odata_type!r} is not allowed here; expected one of: {allowed}")]
    return name, []


def _normalise_parameter_names(schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    declared = {name.lower(): name for name in (schema.get("properties") or {})}
    return {declared.get(key.lower(), key): value for key, value in body.items()}


# --- public API -----------------------------------------------------------------------------------------------


def _split(path: str) -> tuple[str, str] | str:
    if path.lower().startswith(("https://", "http://")):
        path = urlsplit(path).path
    path = unquote(path.split("?", 1)[0])
    version, _, rest = path.lstrip("/").partition("/")
    if version not in _FILES or not rest:
        return f"path {path!r} must start with /beta/ or /v1.0/"
    return version, "/" + rest.rstrip("/")


def validate_graph_request(method: str, path: str, body: dict[str, Any] | None) -> list[str]:
    """Problems with one Graph request (empty list: fine). `path` is versioned: `/beta/security/...`.

    For `$batch` only the envelope is checked here (the emulator validates each inner request on its own, as
    Graph answers an invalid inner request inside a 200 batch); `validate_batch` checks both.
    """
    method = method.upper()
    split = _split(path)
    if isinstance(split, str):
        return [split]
    version, rest = split
    if rest == "/$batch":
        if method != "POST":
            return ["$batch takes POST"]
        return validate_batch(body, version=version, inner=False)
    spec = _spec(version)
    found = spec.find(rest, method)
    if isinstance(found, str):
        return [found]
    template, operation = found
    request_body = operation.get("requestBody")
    if request_body is None:
        return [f"{method} {template} takes no request body"] if body else []
    if body is None:
        return [f"{method} {template} needs a JSON request body"] if request_body.get("required") else []
    if not isinstance(body, dict):
        return [f"{method} {template}: the request body must be a JSON object"]
    schema = request_body["content"]["application/json"]["schema"]
    declared = _declared_types(schema)
    if declared is None:
        normalised = _normalise_parameter_names(schema, body)
        return _problems(spec.inline_validator(schema), normalised)
    target, problems = _select_type(spec, declared, body)
    if target is None:
        return problems
    if method == "POST" and spec.is_entity(target):
        if spec.is_abstract(target):
            return [f"#{target} is abstract; name a concrete type in @odata.type"]
        missing = [name for name in spec.required_on_create(target, operation) if name not in body]
        problems = [f"(body): missing required property {name!r} of #{target}" for name in missing]
    return problems + _problems(spec.type_validator(target), body)


def validate_batch(body: Any, version: str = "v1.0", *, inner: bool = True) -> list[str]:
    """Problems with a JSON batch envelope and (with `inner`) with each request inside it."""
    spec = _spec("v1.0")
    operation = spec.raw["paths"]["/$batch"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if not isinstance(body, dict):
        return ["$batch needs a JSON object with 'requests'"]
    problems = _problems(spec.inline_validator(schema), body)
    if problems:
        return problems
    seen: set[str] = set()
    for position, request in enumerate(body["requests"]):
        label = f"requests[{position}] (id {request['id']!r})"
        if request["id"] in seen:
            problems.append(f"{label}: duplicate id")
        for dependency in request.get("dependsOn") or []:
            if dependency not in seen:
                problems.append(f"{label}: dependsOn {dependency!r} is not an earlier request")
        seen.add(request["id"])
        method = request["method"].upper()
        if method not in _METHODS:
            problems.append(f"{label}: unsupported method {request['method']!r}")
        url = request["url"]
        if url.lower().startswith(("http://", "https://")):
            problems.append(f"{label}: url must be relative to the batch's version, not absolute")
            continue
        relative = url if url.startswith("/") else "/" + url
        if relative.startswith(("/beta/", "/v1.0/")):
            problems.append(f"{label}: url must not repeat the version; it is relative to /{version}")
            continue
        headers = request.get("headers") or {}
        if "body" in request and request["body"] is not None:
            if not any(name.lower() == "content-type" for name in headers):
                problems.append(f"{label}: a request with a body needs a Content-Type header")
        if inner:
            inner_body = request.get("body")
            problems.extend(
                f"{label}: {problem}"
                for problem in validate_graph_request(
                    method, f"/{version}{relative}", inner_body if isinstance(inner_body, dict) else None
                )
            )
    return problems


def validate_graph_response(method: str, path: str, status: int, body: Any) -> list[str]:
    """Problems with a response body, judged by the operation's declared response (for checking fakes)."""
    split = _split(path)
    if isinstance(split, str):
        return [split]
    version, rest = split
    spec = _spec(version)
    found = spec.find(rest, method.upper())
    if isinstance(found, str):
        return [found]
    _, operation = found
    responses = operation.get("responses") or {}
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if response is None:
        return [f"status {status} is not a declared response"]
    if "$ref" in response:
        response = spec.raw["components"]["responses"][_ref_name(response["$ref"])]
    content = (response.get("content") or {}).get("application/json")
    if content is None:
        return [] if body in (None, b"", "") else [f"status {status} declares no body"]
    schema = content["schema"]
    declared = _declared_types(schema)
    if declared is None:
        return _problems(spec.inline_validator(schema), body)
    target, problems = _select_type(spec, declared, body)
    if target is None:
        return problems
    return _problems(spec.type_validator(target), body)
