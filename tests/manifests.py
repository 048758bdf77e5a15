"""Reading the deploy files (k8s/, components/): where they are and what they hold.
Validating them against Dapr's own sources is tests/deploy/dapr_sources.py's job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
K8S_DIR = REPO / "k8s"
# Deployed only on request (the Tiltfile's --tracing): k8s/optional/jaeger.yaml.
OPTIONAL_DIR = K8S_DIR / "optional"
COMPONENTS_DIR = REPO / "components"
DAPR_TOOLS = REPO / "tools" / "dapr"
DAPR_GROUP = "dapr.io"
# kind -> CRD file in dapr's charts/dapr/crds
DAPR_CRD_FILES = {
    "Component": "components.yaml",
    "Subscription": "subscription.yaml",
    "Resiliency": "resiliency.yaml",
    "Configuration": "configuration.yaml",
}

Doc = dict[str, Any]


@dataclass(frozen=True)
class Manifest:
    path: Path
    index: int
    doc: Doc

    @property
    def key(self) -> tuple[str, str]:
        return self.doc["kind"], self.doc["metadata"]["name"]

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}#{self.index} {self.key[0]}/{self.key[1]}"


def load(path: Path) -> list[Manifest]:
    with path.open() as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    return [Manifest(path, i, d) for i, d in enumerate(docs)]


def load_dir(folder: Path) -> list[Manifest]:
    return [m for p in sorted(folder.rglob("*.yaml")) for m in load(p)]


def is_optional(manifest: Manifest) -> bool:
    return OPTIONAL_DIR in manifest.path.parents


def is_dapr(doc: Doc) -> bool:
    return str(doc.get("apiVersion", "")).split("/")[0] == DAPR_GROUP
