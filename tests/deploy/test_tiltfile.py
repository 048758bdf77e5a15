"""./Tiltfile, evaluated by Tilt itself (`tilt alpha tiltfile-result`: Tilt loads the Tiltfile
with all its builtins and prints what `tilt up` would build and deploy; no cluster needed)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

from tests.deploy.dapr_sources import validate
from tests.manifests import (
    K8S_DIR,
    OPTIONAL_DIR,
    REPO,
    is_optional,
    load,
    load_dir,
)

SHELL_VARS = (
    "APP_API_TOKEN",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_MODEL",
    "AGENT_ACTORS_TILT_TOKEN_FILE",
    "TRACING",
)
DAPR_CRDS = ("components", "configurations", "subscriptions", "resiliencies")
APP_TOKEN = ("Secret", "agent-actors-app-token")
TOKEN_FILE = ".tilt-app-token"  # the Tiltfile's default, next to it


def run_tilt(
    tilt: Path,
    home: Path,
    env: dict[str, str] | None = None,
    path_prefix: Path | None = None,
    root: Path = REPO,
    tiltfile_args: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in SHELL_VARS}
    base.update(
        HOME=str(home),  # Tilt's own files (~/.tilt-dev) and no ~/.kube/config: no cluster
        KUBECONFIG=str(home / "no-kubeconfig"),
        TILT_DISABLE_ANALYTICS="1",
    )
    if root == REPO:
        # The generated app token goes beside Tilt's files, not into the checkout's own.
        base["AGENT_ACTORS_TILT_TOKEN_FILE"] = str(home / "app-token")
    base.update(env or {})
    if path_prefix is not None:
        base["PATH"] = f"{path_prefix}{os.pathsep}{base['PATH']}"
    return subprocess.run(
        [
            str(tilt),
            "alpha",
            "tiltfile-result",
            "-f",
            str(root / "Tiltfile"),
            *(["--", *tiltfile_args] if tiltfile_args else []),
        ],
        cwd=root,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def result_of(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def result(tilt: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = result_of(run_tilt(tilt, tmp_path_factory.mktemp("tilt-home")))
    assert out["Error"] is None
    return out


@pytest.fixture(scope="module")
def manifests(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["Name"]: m for m in result["Manifests"]}


def _objects(manifest: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    docs = yaml.safe_load_all(manifest["DeployTarget"]["yaml"])
    return {(d["kind"], d["metadata"]["name"]): d for d in docs if d}


def test_tilt_declares_three_resources(result: dict[str, Any]) -> None:
    assert sorted(result["EnabledManifests"]) == ["agent-actors", "dapr-components", "redis"]


def test_resources_start_in_order(manifests: dict[str, dict[str, Any]]) -> None:
    assert manifests["redis"]["ResourceDependencies"] in (None, [])
    assert manifests["dapr-components"]["ResourceDependencies"] == ["redis"]
    assert set(manifests["agent-actors"]["ResourceDependencies"]) == {"redis", "dapr-components"}


def test_every_k8s_manifest_is_deployed_by_exactly_one_resource(
    manifests: dict[str, dict[str, Any]],
) -> None:
    deployed: list[tuple[str, str]] = []
    for m in manifests.values():
        deployed += list(_objects(m))
    # k8s/ plus the app token Secret, which the Tiltfile makes (k8s/ ships no token).
    # k8s/optional/ only on request (test_tracing_deploys_jaeger_and_points_daprd_at_it),
    # or by hand (hpa.yaml).
    base = [m.key for m in load_dir(K8S_DIR) if not is_optional(m)]
    assert sorted(deployed) == sorted([*base, APP_TOKEN])


def test_objects_are_grouped_by_resource(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(_objects(manifests["redis"])) == {
        ("StatefulSet", "redis"),
        ("Service", "redis-master"),
        ("Service", "redis-headless"),
    }
    assert {k for k, _ in _objects(manifests["dapr-components"])} == {
        "Component",
        "Subscription",
        "Resiliency",
        "Configuration",
    }
    assert set(_objects(manifests["agent-actors"])) == {
        ("Deployment", "agent-actors"),
        ("Service", "agent-actors"),
        ("Secret", "agent-actors-app-token"),
        ("Secret", "agent-actors-llm"),
        ("PodDisruptionBudget", "agent-actors"),
    }


def test_app_image_is_built_from_the_dockerfile(manifests: dict[str, dict[str, Any]]) -> None:
    app = manifests["agent-actors"]
    (image,) = app["ImageTargets"]
    assert image["DockerImageName"].split(":")[0] == "agent-actors"
    assert app["DeployTarget"]["imageMaps"] == ["agent-actors"]
    details = image["BuildDetails"]
    assert details["context"] == str(REPO)
    assert details["dockerfileContents"] == (REPO / "Dockerfile").read_text()


def test_live_update_syncs_src_and_resyncs_dependencies(
    manifests: dict[str, dict[str, Any]],
) -> None:
    (image,) = manifests["agent-actors"]["ImageTargets"]
    spec = image["LiveUpdateSpec"]
    syncs = {s["localPath"]: s["containerPath"] for s in spec["syncs"]}
    assert syncs == {
        "src": "/app/src",
        "pyproject.toml": "/app/pyproject.toml",
        "uv.lock": "/app/uv.lock",
    }
    (resync,) = spec["execs"]
    assert {Path(p).name for p in resync["triggerPaths"]} == {"pyproject.toml", "uv.lock"}
    assert "uv sync --frozen" in resync["args"][-1]
    command = image["overrideCommand"]["command"]
    assert command[command.index("--reload-dir") + 1] == "/app/src"
    # Otherwise the image's own CMD.
    (cmd,) = [s for s in dockerfile.parse_file(str(REPO / "Dockerfile")) if s.cmd == "CMD"]
    assert command == [*cmd.value, "--reload", "--reload-dir", "/app/src"]


def test_port_8000_is_forwarded(manifests: dict[str, dict[str, Any]]) -> None:
    forwards = manifests["agent-actors"]["DeployTarget"]["portForwardTemplateSpec"]["forwards"]
    assert [(f["localPort"], f["containerPort"]) for f in forwards] == [(8000, 8000)]


@pytest.mark.parametrize(
    ("env", "args"), [({}, ("--tracing",)), ({"TRACING": "1"}, ())], ids=["flag", "env"]
)
def test_tracing_deploys_jaeger_and_points_daprd_at_it(
    tilt: Path, tmp_path: Path, env: dict[str, str], args: tuple[str, ...]
) -> None:
    out = result_of(run_tilt(tilt, tmp_path, env, tiltfile_args=args))
    manifests = {m["Name"]: m for m in out["Manifests"]}
    jaeger = _objects(manifests["jaeger"])
    assert set(jaeger) == {m.key for m in load(OPTIONAL_DIR / "jaeger.yaml")}
    # The autoscaler (needs metrics-server) is applied by hand, never by Tilt.
    deployed = {key for m in manifests.values() for key in _objects(m)}
    assert ("HorizontalPodAutoscaler", "agent-actors") not in deployed
    forwards = manifests["jaeger"]["DeployTarget"]["portForwardTemplateSpec"]["forwards"]
    assert [(f["localPort"], f["containerPort"]) for f in forwards] == [(16686, 16686)]
    # The app starts once Jaeger's ConfigMap of its tracing settings is there, and reads it.
    assert "jaeger" in manifests["agent-actors"]["ResourceDependencies"]
    tracing_env = jaeger["ConfigMap", "agent-actors-tracing"]["data"]
    assert tracing_env["AGENT_ACTORS_TRACING__ENABLED"] == "true"
    service = jaeger["Service", "jaeger"]
    otlp = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "otlp-http")
    assert tracing_env["AGENT_ACTORS_TRACING__OTLP_ENDPOINT"] == f"http://jaeger:{otlp}"
    config = _objects(manifests["dapr-components"])["Configuration", "agent-actors-config"]
    assert validate(config).startswith("dapr CRD")
    assert config["spec"]["tracing"]["otel"] == {
        "endpointAddress": f"jaeger:{otlp}",
        "protocol": "http",
        "isSecure": False,
    }


def test_without_tracing_daprd_exports_nowhere(manifests: dict[str, dict[str, Any]]) -> None:
    config = _objects(manifests["dapr-components"])["Configuration", "agent-actors-config"]
    assert "otel" not in config["spec"]["tracing"]
    assert "jaeger" not in manifests


def _app_token(proc: subprocess.CompletedProcess[str]) -> str:
    manifests = {m["Name"]: m for m in result_of(proc)["Manifests"]}
    secret = _objects(manifests["agent-actors"])[APP_TOKEN]
    assert validate(secret).startswith("kubernetes")
    token: str = secret["stringData"]["token"]
    return token


def test_secrets_are_empty_unless_the_shell_sets_them(
    manifests: dict[str, dict[str, Any]], tilt: Path, tmp_path: Path
) -> None:
    objects = _objects(manifests["agent-actors"])
    assert not objects["Secret", "agent-actors-llm"].get("stringData")

    env = {"APP_API_TOKEN": "t0k3n-from-shell", "OPENAI_MODEL": "some-model"}
    proc = run_tilt(tilt, tmp_path, env)
    objects = _objects({m["Name"]: m for m in result_of(proc)["Manifests"]}["agent-actors"])
    assert objects[APP_TOKEN]["stringData"] == {"token": "t0k3n-from-shell"}
    assert objects["Secret", "agent-actors-llm"]["stringData"] == {"OPENAI_MODEL": "some-model"}
    assert not (tmp_path / "app-token").exists()  # the shell's token: nothing generated


def test_without_app_api_token_a_random_token_is_generated_once(tilt: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    token = _app_token(run_tilt(tilt, first))
    assert re.fullmatch(r"[0-9a-f]{64}", token)  # 32 random bytes
    kept = first / "app-token"
    assert kept.read_text() == token
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert _app_token(run_tilt(tilt, first)) == token  # reused: the pod keeps its token
    assert _app_token(run_tilt(tilt, second)) != token  # not a fixed string
    for path in K8S_DIR.rglob("*"):
        if path.is_file():
            assert token not in path.read_text()


def test_the_generated_token_file_is_ignored_by_git_and_docker(tilt: Path, tmp_path: Path) -> None:
    # A copy of what the Tiltfile reads, so the checkout's own .tilt-app-token stays untouched.
    root = tmp_path / "checkout"
    for name in (
        "Tiltfile",
        "Dockerfile",
        ".dockerignore",
        ".gitignore",
        "pyproject.toml",
        "uv.lock",
        "README.md",
    ):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    shutil.copytree(K8S_DIR, root / "k8s")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    home = tmp_path / "home"
    home.mkdir()
    token = _app_token(run_tilt(tilt, home, root=root))
    assert (root / TOKEN_FILE).read_text() == token
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", TOKEN_FILE])
    assert ignored.returncode == 0, f"{TOKEN_FILE} is not git-ignored"
    assert _dockerignore_excludes(REPO / ".dockerignore", TOKEN_FILE)


def _dockerignore_excludes(path: Path, name: str) -> bool:
    """Whether a top-level ``name`` stays out of the build context: the last pattern that
    matches it decides, and a ``!`` pattern lets it in."""
    excluded = False
    for line in path.read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        if fnmatch.fnmatchcase(name, pattern.lstrip("!").rstrip("/")):
            excluded = not negated
    return excluded


def _fake_kubectl(
    folder: Path, crds: tuple[str, ...], *, cluster: bool = True, injector_ready: int = 1
) -> Path:
    """A kubectl that answers like a cluster with ``crds`` of Dapr (and its injector)."""
    folder.mkdir()
    crd_lines = "".join(
        f"echo customresourcedefinition.apiextensions.k8s.io/{c}.dapr.io\n" for c in crds
    )
    refused = "echo 'The connection to the server 127.0.0.1:6443 was refused' >&2; exit 1"
    script = folder / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        # As the real kubectl: `version -o` takes only yaml or json (`-o name` is refused).
        'case " $* " in *" version "*" -o "*) case " $* " in *" -o json "*|*" -o yaml "*) ;;\n'
        "  *) echo \"error: --output must be 'yaml' or 'json'\" >&2; exit 1 ;; esac ;; esac\n"
        'case "$1 $2" in\n'
        f"  'version '*|'cluster-info '*) {'exit 0' if cluster else refused} ;;\n"
        "  'get crd') "
        + crd_lines.replace("\n", "; ")
        + "echo 'Error from server (NotFound): not all found' >&2 ;;\n"
        "  'get mutatingwebhookconfiguration') "
        "echo mutatingwebhookconfiguration.admissionregistration.k8s.io/dapr-sidecar-injector ;;\n"
        f"  'get deployment') echo {injector_ready} ;;\n"
        "esac\n"
    )
    script.chmod(0o755)
    return folder


def test_tilt_up_without_dapr_fails_with_a_clear_message(tilt: Path, tmp_path: Path) -> None:
    fake = _fake_kubectl(tmp_path / "bin", DAPR_CRDS[:1])
    proc = run_tilt(tilt, tmp_path, {"AGENT_ACTORS_CHECK_DAPR": "1"}, fake)
    assert proc.returncode == 5, proc.stderr  # Tilt's "error evaluating the Tiltfile"
    assert "Dapr is not installed in the Kubernetes cluster" in proc.stderr
    assert "configurations.dapr.io" in proc.stderr
    assert "components.dapr.io," not in proc.stderr  # the one that is there is not listed
    assert "dapr init -k" in proc.stderr
    assert "Error from server (NotFound)" in proc.stderr  # what kubectl said


def test_tilt_up_with_dapr_passes_the_check(tilt: Path, tmp_path: Path) -> None:
    fake = _fake_kubectl(tmp_path / "bin", DAPR_CRDS)
    result_of(run_tilt(tilt, tmp_path, {"AGENT_ACTORS_CHECK_DAPR": "1"}, fake))


def test_tilt_up_without_a_cluster_says_so_not_dapr(tilt: Path, tmp_path: Path) -> None:
    fake = _fake_kubectl(tmp_path / "bin", DAPR_CRDS, cluster=False)
    proc = run_tilt(tilt, tmp_path, {"AGENT_ACTORS_CHECK_DAPR": "1"}, fake)
    assert proc.returncode == 5, proc.stderr
    assert "No Kubernetes cluster answers" in proc.stderr
    assert "connection to the server" in proc.stderr
    assert "Dapr is not installed" not in proc.stderr


def test_tilt_up_with_dapr_but_no_ready_injector_stops(tilt: Path, tmp_path: Path) -> None:
    fake = _fake_kubectl(tmp_path / "bin", DAPR_CRDS, injector_ready=0)
    proc = run_tilt(tilt, tmp_path, {"AGENT_ACTORS_CHECK_DAPR": "1"}, fake)
    assert proc.returncode == 5, proc.stderr
    assert "sidecar injector is not ready" in proc.stderr
