"""The pod of k8s/agent-actors.yaml on a real Docker engine, without a cluster.

One network namespace stands in for the pod (a sandbox container, as Kubernetes' pause
container): the app (the built image) and daprd join it and talk over its loopback on the
Deployment's own ports (8000, 3500, 50001, ...), as in a pod. Redis, placement and scheduler
join it too, so every byte stays on that loopback; the Service names the manifests use
(`redis-master`, the injector's placement and scheduler addresses) resolve to 127.0.0.1 there,
so the k8s twins of the components load unchanged. From the host, only the app's port 8000 and
daprd's public port 3501 (the kubelet's readiness probe) are published, on loopback, on free
ports: like Tilt's port-forward.

daprd is configured as Dapr 1.18.2's sidecar injector configures it from the Deployment's
annotations (pkg/injector/patcher/sidecar_container.go), with these differences, forced by
there being no control plane but placement and scheduler: `--mode standalone` (kubernetes mode
needs the operator and sentry), so no mTLS, the components come from `--resources-path` (the
files of k8s/dapr/) and `--config` is the Configuration's file instead of its name, with
devstack/daprd-local.yaml over it for name resolution (nameformat, as the local stack; in a
cluster the kubernetes resolver).
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from devstack.ports import free_ports

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "k8s"
RESOURCES = K8S / "dapr"
TOOLS = REPO / "tools" / "docker"
DAPR_BIN = REPO / ".dapr" / "bin"
NAME_RESOLUTION = REPO / "devstack" / "daprd-local.yaml"
IMAGE = "agent-actors"

# Where the injector points daprd (pkg/injector/patcher/services.go, control plane namespace
# dapr-system, cluster domain cluster.local), and the Service k8s/redis.yaml defines.
PLACEMENT_HOST = "dapr-placement-server.dapr-system.svc.cluster.local"
SCHEDULER_HOST = "dapr-scheduler-server-a.dapr-system.svc.cluster.local"
PLACEMENT_PORT, SCHEDULER_PORT = 50005, 443
REDIS_SERVICE = "redis-master"
# Dapr's images run daprd as distroless's nonroot user; the injector sets no user of its own.
DAPRD_USER = "65532:65532"


class DockerError(AssertionError):
    pass


def run(argv: list[str], timeout: float = 120, stdin: bytes | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise DockerError(
            f"{' '.join(argv)} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace')[-3000:]}"
        )
    return done.stdout.decode()


def tool(script: str, *args: str, timeout: float = 900) -> str:
    return run(["bash", str(TOOLS / script), *args], timeout=timeout)


# -- the manifests -----------------------------------------------------------------------------


def manifest(path: Path, kind: str, name: str | None = None) -> dict[str, Any]:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc and doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name):
            found: dict[str, Any] = doc
            return found
    raise AssertionError(f"{path} has no {kind} {name or ''}")


def deployment() -> dict[str, Any]:
    return manifest(K8S / "agent-actors.yaml", "Deployment", "agent-actors")


def secret_data(name: str) -> dict[str, str]:
    """The committed Secret's stringData (k8s/secrets.yaml): what the cluster would hold."""
    doc = manifest(K8S / "secrets.yaml", "Secret", name)
    return {k: str(v) for k, v in (doc.get("stringData") or {}).items()}


def configuration_file(name: str) -> Path:
    """The file of k8s/dapr/ that defines the Configuration ``dapr.io/config`` names."""
    for path in sorted(RESOURCES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Configuration" and doc["metadata"]["name"] == name:
                return path
    raise AssertionError(f"no Configuration {name} in {RESOURCES}")


# -- the sidecar injector ---------------------------------------------------------------------

# The annotations this stand-in for the injector turns into flags, env and limits. Another
# annotation in the Deployment fails the test: this list then needs it, as the injector reads it.
HANDLED = {
    "dapr.io/enabled",
    "dapr.io/app-id",
    "dapr.io/app-port",
    "dapr.io/app-protocol",
    "dapr.io/config",
    "dapr.io/app-token-secret",
    "dapr.io/enable-app-health-check",
    "dapr.io/app-health-check-path",
    "dapr.io/log-as-json",
    "dapr.io/env",
    "dapr.io/enable-metrics",
    "dapr.io/sidecar-cpu-request",
    "dapr.io/sidecar-memory-request",
    "dapr.io/sidecar-cpu-limit",
    "dapr.io/sidecar-memory-limit",
    "dapr.io/graceful-shutdown-seconds",
    "dapr.io/max-body-size",
}


def truthy(value: str) -> bool:
    return value.strip().lower() in ("true", "1", "yes", "y", "on")


@dataclass
class Sidecar:
    args: list[str]
    env: dict[str, str]
    docker_limits: list[str]
    mounts: dict[Path, str]


def inject(annotations: dict[str, str], pod_name: str, app_token: str) -> Sidecar:
    """daprd's command line, environment and limits, as the injector derives them (defaults
    from pkg/injector/patcher/sidecar.go)."""
    unknown = sorted(k for k in annotations if k.startswith("dapr.io/") and k not in HANDLED)
    assert not unknown, f"the image test's injector does not handle {unknown}: add them"
    a = annotations
    assert truthy(a["dapr.io/enabled"])
    config = configuration_file(a["dapr.io/config"])
    args = [
        "/daprd",
        "--dapr-http-port", "3500",
        "--dapr-grpc-port", "50001",
        "--dapr-internal-grpc-port", "50002",
        "--dapr-listen-addresses", "[::1],127.0.0.1",
        "--dapr-public-port", "3501",
        "--app-id", a["dapr.io/app-id"],
        "--app-protocol", a.get("dapr.io/app-protocol", "http"),
        "--log-level", "info",
        "--dapr-graceful-shutdown-seconds", a.get("dapr.io/graceful-shutdown-seconds", "-1"),
        "--mode", "standalone",  # kubernetes: needs the operator and sentry
        "--app-port", a["dapr.io/app-port"],
    ]  # fmt: skip
    if truthy(a.get("dapr.io/enable-metrics", "true")):
        args += ["--enable-metrics", "--metrics-port", "9090"]
    args += [
        "--config", f"/resources/{config.name}",  # kubernetes: the name, via the operator
        "--config", "/config/name-resolution.yaml",
        "--resources-path", "/resources",
        "--placement-host-address", f"{PLACEMENT_HOST}:{PLACEMENT_PORT}",
    ]  # fmt: skip
    if truthy(a.get("dapr.io/enable-app-health-check", "false")):
        args += [
            "--enable-app-health-check",
            "--app-health-check-path", a.get("dapr.io/app-health-check-path", "/healthz"),
            "--app-health-probe-interval", "5",
            "--app-health-probe-timeout", "500",
            "--app-health-threshold", "3",
        ]  # fmt: skip
    if truthy(a.get("dapr.io/log-as-json", "false")):
        args.append("--log-as-json")
    if "dapr.io/max-body-size" in a:
        # The injector passes it as it is (a quantity such as 4Mi, which daprd parses).
        args += ["--max-body-size", a["dapr.io/max-body-size"]]
    args += ["--scheduler-host-address", f"{SCHEDULER_HOST}:{SCHEDULER_PORT}"]

    env = {"NAMESPACE": "default", "POD_NAME": pod_name}
    extra = dict(pair.split("=", 1) for pair in a.get("dapr.io/env", "").split(",") if "=" in pair)
    env.update(extra)
    if extra:
        env["DAPR_ENV_KEYS"] = " ".join(extra)
    if "dapr.io/app-token-secret" in a:
        # The Secret's key `token`, as APP_API_TOKEN (the injector's secretKeyRef).
        env["APP_API_TOKEN"] = app_token
    limits = []
    if "dapr.io/sidecar-cpu-limit" in a:
        limits += ["--cpus", str(cpu(a["dapr.io/sidecar-cpu-limit"]))]
    if "dapr.io/sidecar-memory-limit" in a:
        limits += ["--memory", memory(a["dapr.io/sidecar-memory-limit"])]
    mounts = {
        (DAPR_BIN / "daprd").resolve(): "/daprd",
        RESOURCES: "/resources",
        NAME_RESOLUTION: "/config/name-resolution.yaml",
    }
    return Sidecar(args, env, limits, mounts)


def cpu(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory(quantity: str) -> str:
    units = {"Ki": "k", "Mi": "m", "Gi": "g"}
    for suffix, unit in units.items():
        if quantity.endswith(suffix):
            return quantity[: -len(suffix)] + unit
    return quantity


# -- the app container, as the Deployment declares it ------------------------------------------


def app_env(container: dict[str, Any], app_token: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            env.update(secret_data(source["secretRef"]["name"]))
        else:  # the tracing ConfigMap, deployed only with k8s/optional/ (tracing off here)
            assert source["configMapRef"]["optional"], source
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("agent-actors-app-token", "token"), ref
            env[item["name"]] = app_token
    return env


def app_security(pod_spec: dict[str, Any], container: dict[str, Any]) -> list[str]:
    pod_sc, sc = pod_spec["securityContext"], container["securityContext"]
    assert pod_sc["runAsNonRoot"]
    assert pod_sc["runAsUser"] != 0
    flags = ["--user", f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"]
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    for cap in sc.get("capabilities", {}).get("drop", []):
        flags += ["--cap-drop", cap]
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    limits = container["resources"]["limits"]
    flags += ["--cpus", str(cpu(str(limits["cpu"]))), "--memory", memory(limits["memory"])]
    return flags


# -- the pod -----------------------------------------------------------------------------------


@dataclass
class Pod:
    docker: str
    image: str
    stack_image: str
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    app_token: str = field(default_factory=lambda: uuid.uuid4().hex)
    containers: list[str] = field(default_factory=list)
    app_port: int = 0
    daprd_public_port: int = 0

    def name(self, part: str) -> str:
        return f"agent-actors-test-{self.run_id}-{part}"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def docker_run(self, part: str, flags: list[str], image: str, argv: list[str]) -> str:
        name = self.name(part)
        self.containers.append(name)
        base = ["run", "-d", "--name", name, "--label", f"agent-actors-test={self.run_id}"]
        if part != "pod":
            base += ["--network", f"container:{self.name('pod')}"]
        run([self.docker, *base, *flags, image, *argv])
        return name

    def start(self) -> None:
        spec = deployment()["spec"]["template"]
        self.app_port, self.daprd_public_port = free_ports(2)
        # The sandbox: owns the network namespace, its /etc/hosts and the published ports.
        hosts = [
            f"--add-host={h}:127.0.0.1" for h in (REDIS_SERVICE, PLACEMENT_HOST, SCHEDULER_HOST)
        ]
        published = f"-p 127.0.0.1:{self.app_port}:8000 -p 127.0.0.1:{self.daprd_public_port}:3501"
        # A pod has ::1 (daprd listens on [::1],127.0.0.1); Docker turns IPv6 off by default,
        # and daprd then spends about 10 s per listener before it settles for 127.0.0.1.
        ipv6 = ["--sysctl", "net.ipv6.conf.all.disable_ipv6=0"]
        flags = ["--init", *ipv6, *hosts, *published.split()]
        self.docker_run("pod", flags, self.stack_image, ["sleep", "infinity"])
        self.start_redis()
        self.start_control_plane()
        self.start_daprd(spec["metadata"]["annotations"])
        self.start_app()

    def start_redis(self) -> None:
        statefulset = manifest(K8S / "redis.yaml", "StatefulSet")
        (container,) = statefulset["spec"]["template"]["spec"]["containers"]
        # k8s/redis.yaml's own arguments; bound to loopback, as nothing outside the pod needs it.
        args = ["redis-server", *map(str, container["args"]), "--bind", "127.0.0.1"]
        flags = ["--user", "redis", "--mount", "type=tmpfs,destination=/data,tmpfs-mode=1777"]
        self.docker_run("redis", flags, self.stack_image, args)

    def start_control_plane(self) -> None:
        """Placement and scheduler on the ports the injector points daprd at, their other
        listeners apart (in a cluster each is a pod of its own); flags as devstack's."""
        bins = {b: (DAPR_BIN / b).resolve() for b in ("placement", "scheduler")}
        missing = [str(path) for path in bins.values() if not path.exists()]
        assert not missing, f"{missing} missing: run `make runtime`"
        common = ["--user", DAPRD_USER, "--security-opt", "no-new-privileges"]
        placement = (
            f"/placement --port {PLACEMENT_PORT} --listen-address 127.0.0.1 --healthz-port 8081"
            " --metrics-port 9091 --initial-cluster dapr-placement-0=127.0.0.1:8201"
            " --metadata-enabled=false"
        )
        mount = ["-v", f"{bins['placement']}:/placement:ro"]  # a path may hold spaces
        self.docker_run("placement", [*common, *mount], self.stack_image, placement.split())
        scheduler = (
            f"/scheduler --port {SCHEDULER_PORT} --listen-address 127.0.0.1 --healthz-port 8082"
            " --metrics-port 9092 --etcd-data-dir /var/run/etcd"
            " --etcd-client-listen-address 127.0.0.1"
            " --etcd-initial-cluster dapr-scheduler-server-0=http://127.0.0.1:2380"
        )
        mount = ["-v", f"{bins['scheduler']}:/scheduler:ro"]
        mount += ["--mount", "type=tmpfs,destination=/var/run/etcd,tmpfs-mode=1777"]
        self.docker_run("scheduler", [*common, *mount], self.stack_image, scheduler.split())

    def start_daprd(self, annotations: dict[str, str]) -> None:
        sidecar = inject(annotations, self.name("app"), self.app_token)
        flags = ["--user", DAPRD_USER, "--read-only", "--security-opt", "no-new-privileges"]
        flags += sidecar.docker_limits
        for host, target in sidecar.mounts.items():
            flags += ["-v", f"{host}:{target}:ro"]
        for key, value in sidecar.env.items():
            flags += ["-e", f"{key}={value}"]
        self.docker_run("daprd", flags, self.stack_image, sidecar.args)

    def start_app(self, command: list[str] | None = None) -> None:
        """The app container: the Deployment's user, env, limits and security context, and
        the image's own command unless ``command`` replaces it (as Tilt's does)."""
        spec = deployment()["spec"]["template"]["spec"]
        (container,) = [c for c in spec["containers"] if c["name"] == "app"]
        # The Deployment sets no command: the image's CMD runs.
        assert "command" not in container
        assert "args" not in container
        flags = app_security(spec, container)
        for key, value in app_env(container, self.app_token).items():
            flags += ["-e", f"{key}={value}"]
        self.docker_run("app", flags, self.image, command or [])

    def stop_app(self) -> None:
        name = self.name("app")
        run([self.docker, "rm", "-f", name])
        self.containers.remove(name)

    def stop(self) -> None:
        for name in reversed(self.containers):
            subprocess.run(
                [self.docker, "rm", "-f", name], capture_output=True, timeout=60, check=False
            )
        self.containers.clear()

    # -- looking at it ----------------------------------------------------------------------

    def logs(self, part: str, tail: int = 40) -> str:
        done = subprocess.run(
            [self.docker, "logs", "--tail", str(tail), self.name(part)],
            capture_output=True,
            timeout=30,
            check=False,
        )
        return (done.stdout + done.stderr).decode(errors="replace")

    def all_logs(self) -> str:
        parts = [c.rsplit("-", 1)[1] for c in self.containers]
        return "\n".join(f"--- {p} ---\n{self.logs(p)}" for p in parts)

    def exec(self, part: str, argv: list[str], stdin: bytes | None = None) -> str:
        flags = ["-i"] if stdin is not None else []
        return run([self.docker, "exec", *flags, self.name(part), *argv], stdin=stdin)

    def command_of(self, image: str) -> list[str]:
        out = run([self.docker, "image", "inspect", "--format", "{{json .Config.Cmd}}", image])
        cmd: list[str] = json.loads(out)
        return cmd

    def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        """Until the kubelet would call the pod ready (daprd's /v1.0/healthz on its public
        port, the app's /healthz) and daprd runs the three actor types; the runtime view."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                sidecar = httpx.get(
                    f"http://127.0.0.1:{self.daprd_public_port}/v1.0/healthz", timeout=2
                )
                app = httpx.get(f"{self.app_url}/healthz", timeout=2)
                if sidecar.status_code == 204 and app.status_code == 200:
                    view = httpx.get(f"{self.app_url}/inspect/runtime", timeout=5)
                    last = view.text
                    body: dict[str, Any] = view.json() if view.status_code == 200 else {}
                    types = {a["type"] for a in body.get("actors", [])}
                    if body.get("actor_runtime") == "RUNNING" and len(types) == 3:
                        return body
                else:
                    last = (sidecar.status_code, app.status_code)
            except httpx.HTTPError as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(
            f"the pod was not ready in {timeout:.0f} s ({last!r}):\n{self.all_logs()}"
        )


def tar_of(files: dict[str, bytes]) -> bytes:
    """A tar stream as Tilt's live update sends it (paths relative to /, owner root, 0644)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()
