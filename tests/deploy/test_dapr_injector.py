"""The app's Deployment asks Dapr's sidecar injector only for what it reads (its source)."""

from __future__ import annotations

from pathlib import Path

from tests.deploy.dapr_sources import dapr_injector_annotations
from tests.manifests import K8S_DIR, load_dir

CLUSTER = {m.key: m.doc for m in load_dir(K8S_DIR)}
ANNOTATIONS: dict[str, str] = CLUSTER["Deployment", "agent-actors"]["spec"]["template"]["metadata"][
    "annotations"
]


def test_every_dapr_annotation_is_one_the_injector_reads(dapr_module: Path) -> None:
    known = dapr_injector_annotations()
    assert "dapr.io/app-id" in known  # the parse of Dapr's source found the annotations
    used = {k for k in ANNOTATIONS if k.startswith("dapr.io/")}
    assert used - known == set()
