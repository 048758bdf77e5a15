"""Every manifest in k8s/ is valid for the cluster: Kubernetes kinds against the schemas of a
current Kubernetes release, Dapr kinds against Dapr's own CRDs (pinned runtime's module)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.deploy.dapr_sources import InvalidManifest, validate
from tests.manifests import (
    COMPONENTS_DIR,
    DAPR_CRD_FILES,
    K8S_DIR,
    Manifest,
    is_dapr,
    load,
    load_dir,
)

K8S = load_dir(K8S_DIR)
LOCAL = load_dir(COMPONENTS_DIR)


def test_k8s_dir_holds_the_expected_kinds() -> None:
    kinds = {m.doc["kind"] for m in K8S}
    assert {"Deployment", "Service", "StatefulSet", "Secret"} <= kinds
    assert set(DAPR_CRD_FILES) <= kinds


@pytest.mark.parametrize("manifest", K8S, ids=str)
def test_k8s_manifest_is_valid(manifest: Manifest, dapr_module: Path) -> None:
    against = validate(manifest.doc)
    assert against.startswith("dapr CRD" if is_dapr(manifest.doc) else "kubernetes 1.37")


@pytest.mark.parametrize("manifest", LOCAL, ids=str)
def test_local_component_is_valid_for_dapr(manifest: Manifest, dapr_module: Path) -> None:
    assert validate(manifest.doc).startswith("dapr CRD")


# -- the validators reject broken manifests ---------------------------------------------------


def _doc(path: str, kind: str) -> dict:
    return copy.deepcopy(next(m.doc for m in load(K8S_DIR / path) if m.doc["kind"] == kind))


def _broken(path: str, kind: str, mutate) -> dict:  # type: ignore[no-untyped-def]
    doc = _doc(path, kind)
    mutate(doc)
    return doc


BROKEN = {
    "deployment replicas is a string": _broken(
        "agent-actors.yaml", "Deployment", lambda d: d["spec"].update(replicas="one")
    ),
    "deployment container port is a string": _broken(
        "agent-actors.yaml",
        "Deployment",
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["ports"][0].update(
            containerPort="8000"
        ),
    ),
    "deployment has an unknown field": _broken(
        "agent-actors.yaml", "Deployment", lambda d: d["spec"].update(replica=1)
    ),
    "service without ports' port": _broken(
        "agent-actors.yaml", "Service", lambda d: d["spec"]["ports"][0].pop("port")
    ),
    "statefulset volumeClaimTemplates is a map": _broken(
        "redis.yaml", "StatefulSet", lambda d: d["spec"].update(volumeClaimTemplates={"a": 1})
    ),
    "component metadata is a map": _broken(
        "dapr/statestore.yaml",
        "Component",
        lambda d: d["spec"].update(metadata={"redisHost": "redis-master:6379"}),
    ),
    "component has an unknown spec field": _broken(
        "dapr/pubsub.yaml", "Component", lambda d: d["spec"].update(kind="pubsub.redis")
    ),
    "subscription routes is a string": _broken(
        "dapr/subscription.yaml", "Subscription", lambda d: d["spec"].update(routes="/subscribe")
    ),
    "subscription of a version dapr does not serve": _broken(
        "dapr/subscription.yaml", "Subscription", lambda d: d.update(apiVersion="dapr.io/v3")
    ),
    "resiliency maxRetries is a string": _broken(
        "dapr/resiliency.yaml",
        "Resiliency",
        lambda d: d["spec"]["policies"]["retries"]["pubsubRetry"].update(maxRetries="ten"),
    ),
    "configuration tracing is a list": _broken(
        "dapr/config.yaml", "Configuration", lambda d: d["spec"].update(tracing=["1"])
    ),
    "kind unknown to both validators": _broken(
        "dapr/config.yaml", "Configuration", lambda d: d.update(kind="HTTPEndpointz")
    ),
}


@pytest.mark.parametrize("doc", BROKEN.values(), ids=BROKEN.keys())
def test_broken_manifest_is_rejected(doc: dict, dapr_module: Path) -> None:
    with pytest.raises(InvalidManifest):
        validate(doc)


def test_broken_file_on_disk_is_rejected(tmp_path: Path, dapr_module: Path) -> None:
    """The whole path a file takes (read, split, validate), on a copy with a wrong type."""
    text = (K8S_DIR / "redis.yaml").read_text().replace("replicas: 1", "replicas: [1]")
    broken = tmp_path / "redis.yaml"
    broken.write_text(text)
    results = []
    for m in load(broken):
        try:
            validate(m.doc)
            results.append((m.doc["kind"], "valid"))
        except InvalidManifest:
            results.append((m.doc["kind"], "invalid"))
    assert ("StatefulSet", "invalid") in results
    assert ("Service", "valid") in results
    assert yaml.safe_load_all(text)  # the YAML itself still parses: the schema caught it
