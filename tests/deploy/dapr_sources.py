"""Validating the deploy files the way a cluster would, and reading Dapr's own sources.

Kubernetes' own kinds are validated by ``kubernetes-validate`` (the JSON schemas of a current
Kubernetes release, shipped in the package, strict: unknown fields are errors, as with
``kubectl apply``'s default server-side field validation). Dapr's kinds are validated against
the ``openAPIV3Schema`` of Dapr's CRDs, read from the ``github.com/dapr/dapr`` module in Go's
module cache (never copied here), turned into JSON Schema as the API server reads them. This
needs Go (and the network when the module is not cached): hence the deploy tier, not unit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.manifests import DAPR_CRD_FILES, DAPR_TOOLS, Doc, is_dapr

KUBERNETES_VERSION = "1.37"

# -- Dapr's CRDs from the module cache --------------------------------------------------------


def go_env() -> dict[str, str]:
    # As tools/dapr/build.sh: dapr's go.sum (copied in tools/dapr) verifies every module.
    return {**os.environ, "GONOSUMDB": "*", "GOFLAGS": "-mod=readonly"}


@cache
def dapr_module_dir() -> Path:
    """github.com/dapr/dapr at the pinned version, downloaded if `make runtime` adopted a
    user's own daprd and so never fetched the module."""

    def module_dir() -> str:
        out = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", "github.com/dapr/dapr"],
            cwd=DAPR_TOOLS,
            env=go_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    found = module_dir()
    if not found:
        subprocess.run(
            ["go", "mod", "download", "github.com/dapr/dapr"],
            cwd=DAPR_TOOLS,
            env=go_env(),
            check=True,
            capture_output=True,
        )
        found = module_dir()
    return Path(found)


def dapr_crds_dir() -> Path:
    return dapr_module_dir() / "charts" / "dapr" / "crds"


def openapi_to_jsonschema(node: Any, *, strict: bool) -> Any:
    """An OpenAPI v3 structural schema (a CRD's) as JSON Schema: `nullable` and
    `x-kubernetes-int-or-string` spelled out; in strict mode an object with declared
    properties and no `x-kubernetes-preserve-unknown-fields` rejects unknown fields, as the API
    server does under strict field validation."""
    if isinstance(node, list):
        return [openapi_to_jsonschema(n, strict=strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_to_jsonschema(v, strict=strict) for k, v in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if strict and "properties" in out and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@cache
def dapr_schema(kind: str, version: str) -> Doc:
    crd_path = dapr_crds_dir() / DAPR_CRD_FILES[kind]
    crd = yaml.safe_load(crd_path.read_text())
    assert crd["spec"]["names"]["kind"] == kind, crd_path
    for v in crd["spec"]["versions"]:
        if v["name"] == version and v.get("served"):
            schema = openapi_to_jsonschema(v["schema"]["openAPIV3Schema"], strict=True)
            # ObjectMeta is `type: object` in the CRD; the API server checks it as such.
            schema["properties"]["metadata"] = {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"}
                },
            }
            return schema
    raise LookupError(f"Dapr's CRD {crd_path.name} serves no version {version} of {kind}")


# -- validation -------------------------------------------------------------------------------


class InvalidManifest(Exception):
    pass


def validate(doc: Doc) -> str:
    """Validate one manifest; returns what it was validated against, raises InvalidManifest."""
    for field in ("apiVersion", "kind", "metadata"):
        if field not in doc:
            raise InvalidManifest(f"missing {field}")
    if is_dapr(doc):
        kind, version = doc["kind"], doc["apiVersion"].split("/")[1]
        if kind not in DAPR_CRD_FILES:
            raise InvalidManifest(f"no Dapr CRD is checked for kind {kind}")
        try:
            jsonschema.Draft202012Validator(dapr_schema(kind, version)).validate(doc)
        except (jsonschema.ValidationError, LookupError) as e:
            raise InvalidManifest(f"{kind}: {e}") from e
        return f"dapr CRD {kind} {version}"
    try:
        version = kubernetes_validate.validate(copy.deepcopy(doc), KUBERNETES_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
        raise InvalidManifest(f"{doc['kind']}: {getattr(e, 'message', e)}") from e
    return f"kubernetes {version}"


# -- Dapr's sidecar injector ------------------------------------------------------------------


@cache
def dapr_injector_annotations() -> frozenset[str]:
    """Every `dapr.io/...` annotation Dapr's sidecar injector reads (its struct tags)."""
    src = (dapr_module_dir() / "pkg" / "injector" / "patcher" / "sidecar.go").read_text()
    return frozenset(re.findall(r'annotation:"(dapr\.io/[a-z0-9-]+)"', src))


def prune(value: Any, schema: Doc) -> Any:
    """What Dapr reads of a document: fields its CRD does not declare dropped (the API server
    prunes them, daprd's typed decoding ignores them)."""
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        out = {}
        for k, v in value.items():
            if props is not None and k in props:
                out[k] = prune(v, props[k])
            elif isinstance(extra, dict):
                out[k] = prune(v, extra)
            elif props is None or extra is not False:
                out[k] = v
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(v, schema["items"]) for v in value]
    return value


def as_dapr_reads(doc: Doc) -> Doc:
    kind, version = doc["kind"], doc["apiVersion"].split("/")[1]
    return prune(doc, dapr_schema(kind, version))


# -- the Dapr CLI (for dapr.yaml) -------------------------------------------------------------

DAPR_CLI = "github.com/dapr/cli"
DAPR_CLI_VERSION = "v1.16.5"
# The module's hash (go.sum's h1:), pinned: the proxy serves no checksum-database answers here.
DAPR_CLI_SUM = "h1:Q1oavb/t5pqxVxiXDKZ3ya7GxVFfbkyJ7sHXUWZHC2g="


@cache
def dapr_cli_dir() -> Path:
    """The Dapr CLI's source at a pinned release, from the Go module proxy (about 1 MB)."""
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"{DAPR_CLI}@{DAPR_CLI_VERSION}"],
        cwd=DAPR_TOOLS,
        env=go_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    assert info["Sum"] == DAPR_CLI_SUM, f"{DAPR_CLI}@{DAPR_CLI_VERSION} hash changed: {info}"
    return Path(info["Dir"])


def go_struct_yaml_tags(source: str, struct: str) -> set[str]:
    """The `yaml:"name"` keys of one Go struct (inline fields left to the caller)."""
    body = re.search(rf"type {struct} struct \{{(.*?)\n\}}", source, re.S)
    assert body, f"no struct {struct}"
    return {t for t in re.findall(r'yaml:"([^",]*)', body.group(1)) if t}


def dapr_run_file_keys() -> tuple[set[str], set[str]]:
    """(top-level keys, per-app keys) that the Dapr CLI's run-file parser reads."""
    root = dapr_cli_dir() / "pkg"
    run = (root / "standalone" / "run.go").read_text()
    runfile = (root / "runfileconfig" / "run_file_config.go").read_text()
    top = go_struct_yaml_tags(runfile, "RunFileConfig")
    app = (
        go_struct_yaml_tags(runfile, "App")
        | go_struct_yaml_tags(runfile, "ContainerConfiguration")
        | go_struct_yaml_tags(run, "RunConfig")
        | go_struct_yaml_tags(run, "SharedRunConfig")
    )
    return top, app
