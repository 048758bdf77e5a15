"""The app's Deployment: what the Dapr injector reads, how Kubernetes probes and bounds it, and
that it agrees with the image, the Secrets and the app's settings."""

from __future__ import annotations

import re

import dockerfile

from agent_actors.settings import DaprSettings, Settings, TracingSettings
from tests.manifests import K8S_DIR, REPO, Doc, load_dir

CLUSTER = {m.key: m.doc for m in load_dir(K8S_DIR)}
DEPLOYMENT = CLUSTER["Deployment", "agent-actors"]
POD = DEPLOYMENT["spec"]["template"]
ANNOTATIONS: dict[str, str] = POD["metadata"]["annotations"]
APP = next(c for c in POD["spec"]["containers"] if c["name"] == "app")


def _env(name: str) -> Doc:
    return next(e for e in APP["env"] if e["name"] == name)


def _image_port() -> int:
    """The port the image's CMD serves the app on."""
    (cmd,) = [s for s in dockerfile.parse_file(str(REPO / "Dockerfile")) if s.cmd == "CMD"]
    return int(cmd.value[cmd.value.index("--port") + 1])


def test_sidecar_identity_matches_the_app() -> None:
    d, port = DaprSettings(), _image_port()
    assert ANNOTATIONS["dapr.io/enabled"] == "true"
    assert ANNOTATIONS["dapr.io/app-id"] == d.app_id == "agent-actors"
    assert ANNOTATIONS["dapr.io/app-port"] == str(port)
    assert ANNOTATIONS["dapr.io/app-protocol"] == "http"
    ports = {p["name"]: p["containerPort"] for p in APP["ports"]}
    assert ports["http"] == port


# Kubernetes resource quantities as daprd parses --max-body-size (binary suffixes, or bytes).
QUANTITY = re.compile(r"^(\d+)(Ki|Mi|Gi)?$")


def quantity_bytes(text: str) -> int:
    match = QUANTITY.fullmatch(text)
    assert match, f"not a quantity daprd reads as bytes: {text!r}"
    return int(match[1]) << {"": 0, "Ki": 10, "Mi": 20, "Gi": 30}[match[2] or ""]


def test_max_body_size_annotation_matches_the_apps_setting() -> None:
    """The app splits its actor payloads by the size its setting names: the sidecar must
    enforce that very size (the setting's default, unless the pod sets the variable)."""
    size = quantity_bytes(ANNOTATIONS["dapr.io/max-body-size"])
    env = {e["name"]: e.get("value") for e in APP["env"]}
    setting = env.get("AGENT_ACTORS_DAPR__MAX_BODY_BYTES")
    expected = int(setting) if setting is not None else DaprSettings().max_body_bytes
    assert size == expected == 4 * 1024 * 1024


def test_quantities_read_as_daprd_reads_them() -> None:
    assert [quantity_bytes(q) for q in ("4Mi", "512Ki", "1Gi", "400")] == [
        4 << 20,
        512 << 10,
        1 << 30,
        400,
    ]


def test_config_annotation_names_the_k8s_configuration() -> None:
    assert ("Configuration", ANNOTATIONS["dapr.io/config"]) in CLUSTER


def test_app_token_comes_from_one_secret_for_sidecar_and_app() -> None:
    secret_name = ANNOTATIONS["dapr.io/app-token-secret"]
    # `token`: the key Dapr's injector reads. Not optional: without the Secret the app does not
    # start, rather than start without a token.
    ref = _env("APP_API_TOKEN")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": secret_name, "key": "token"}
    # No file in k8s/ holds it (a committed token is a known one): the Tiltfile makes it
    # (tests/deploy/test_tiltfile.py), or the user with kubectl (docs/kubernetes.md).
    assert ("Secret", secret_name) not in CLUSTER


def test_llm_settings_come_from_a_secret_that_sets_only_what_is_given() -> None:
    # A present-but-empty OPENAI_API_KEY would count as a key, so the Secret's keys are the
    # variables themselves (envFrom) and the placeholder Secret has none.
    (source,) = [s for s in APP["envFrom"] if "secretRef" in s]
    ref = source["secretRef"]
    assert ref["optional"] is True
    assert not CLUSTER["Secret", ref["name"]].get("stringData")
    assert not {e["name"] for e in APP["env"]} & {"OPENAI_API_KEY", "OPENAI_BASE_URL"}


def test_tracing_settings_come_from_the_optional_jaeger_manifest() -> None:
    """Without k8s/optional/jaeger.yaml the pod starts without them (tracing off)."""
    (source,) = [s for s in APP["envFrom"] if "configMapRef" in s]
    assert source["configMapRef"]["optional"] is True
    settings = CLUSTER["ConfigMap", source["configMapRef"]["name"]]["data"]
    assert set(settings) <= {
        f"AGENT_ACTORS_TRACING__{f.upper()}" for f in TracingSettings.model_fields
    }
    # daprd's spans under a service name of their own, and one core of Go workers, as in
    # the local stack.
    assert ANNOTATIONS["dapr.io/env"] == "OTEL_SERVICE_NAME=agent-actors-daprd,GOMAXPROCS=1"


def test_secrets_hold_no_values() -> None:
    for (kind, _), doc in CLUSTER.items():
        if kind != "Secret":
            continue
        assert "data" not in doc  # no base64 blobs that could hide a value
        assert not doc.get("stringData"), doc["metadata"]["name"]


def test_probes_hit_the_health_endpoint() -> None:
    for probe in ("readinessProbe", "livenessProbe"):
        get = APP[probe]["httpGet"]
        assert get["path"] == "/healthz"
        assert get["port"] in ("http", _image_port())
    assert ANNOTATIONS["dapr.io/app-health-check-path"] == "/healthz"


def test_every_container_has_requests_and_limits() -> None:
    for (kind, name), doc in CLUSTER.items():
        if kind not in ("Deployment", "StatefulSet"):
            continue
        for c in doc["spec"]["template"]["spec"]["containers"]:
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][bound]), (name, c["name"], bound)
    for a in ("cpu-request", "memory-request", "cpu-limit", "memory-limit"):
        assert f"dapr.io/sidecar-{a}" in ANNOTATIONS


def test_app_runs_as_the_images_non_root_user() -> None:
    sc = POD["spec"]["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001  # USER in ./Dockerfile
    assert APP["securityContext"]["allowPrivilegeEscalation"] is False


def test_one_app_process_per_sidecar_and_two_pods() -> None:
    # docs/architecture.md: the SDK caches actor state in-process; scale with pods, never workers.
    assert DEPLOYMENT["spec"]["replicas"] == 2
    assert "command" not in APP
    assert "args" not in APP


def test_a_rollout_or_a_drain_lets_turns_in_flight_commit() -> None:
    actor_call_timeout_s = Settings().dapr.actor_call_timeout_s
    graceful = int(ANNOTATIONS["dapr.io/graceful-shutdown-seconds"])
    assert graceful > actor_call_timeout_s
    assert POD["spec"]["terminationGracePeriodSeconds"] > graceful
    assert DEPLOYMENT["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pdb = CLUSTER["PodDisruptionBudget", "agent-actors"]
    assert pdb["spec"]["maxUnavailable"] == 1 < DEPLOYMENT["spec"]["replicas"]
    assert pdb["spec"]["selector"] == DEPLOYMENT["spec"]["selector"]
    # the actors' drain on a rebalance stays under placement's dissemination timeout (8 s in
    # Dapr 1.18): longer, and a daprd busy draining is kicked, stalling every actor call
    assert Settings().actors.drain_ongoing_call_timeout_s < 8


def test_streams_are_relayed_between_pods_through_the_clusters_redis() -> None:
    env = {e["name"]: e.get("value") for e in APP["env"]}
    service = CLUSTER["Service", "redis-master"]
    port = service["spec"]["ports"][0]["port"]
    assert env["AGENT_ACTORS_STREAMS__RELAY_URL"] == f"redis://redis-master:{port}"


def test_redis_keeps_an_append_only_file_on_a_volume() -> None:
    sts = CLUSTER["StatefulSet", "redis"]
    redis = sts["spec"]["template"]["spec"]["containers"][0]
    args = redis["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    data_dir = args[args.index("--dir") + 1]
    mounts = {m["mountPath"]: m["name"] for m in redis["volumeMounts"]}
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert mounts[data_dir] in claims


def _cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_daprd_may_use_what_the_apps_core_asks_of_it() -> None:
    """daprd spends ~0.8 of the app's CPU per turn (docs/scaling.md): a lower limit throttles
    the pod before its app's one core is full."""
    app = _cpu_cores(APP["resources"]["limits"]["cpu"])
    daprd = _cpu_cores(ANNOTATIONS["dapr.io/sidecar-cpu-limit"])
    assert app == 1.0
    assert daprd >= 0.75 * app


def test_the_autoscaler_follows_the_app_containers_cpu() -> None:
    hpa = CLUSTER["HorizontalPodAutoscaler", "agent-actors"]["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert hpa["minReplicas"] >= DEPLOYMENT["spec"]["replicas"]
    (metric,) = hpa["metrics"]
    assert metric["containerResource"]["container"] == APP["name"]
    # below the one core an event loop can use, else it would never scale before the queue
    average = _cpu_cores(metric["containerResource"]["target"]["averageValue"])
    assert average < _cpu_cores(APP["resources"]["limits"]["cpu"])
    assert hpa["behavior"]["scaleDown"]["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": 120}
    ]


# Redis connections a pod's daprd may hold at most: its state store and two pub/sub
# components (go-redis pools of 10 per GOMAXPROCS, and the subscriptions' blocking reads).
DAPRD_REDIS_CONNECTIONS = 200


def test_every_pods_redis_connections_fit_under_maxclients() -> None:
    """The app's turn log, daprd and the HPA's most pods share one Redis: past maxclients a
    new connection (a new pod's daprd) is refused and turns fail."""
    env = {e["name"]: e.get("value") for e in APP["env"]}
    pool = int(env["AGENT_ACTORS_STREAMS__TURN_LOG_MAX_CONNECTIONS"])
    pods = CLUSTER["HorizontalPodAutoscaler", "agent-actors"]["spec"]["maxReplicas"]
    redis = CLUSTER["StatefulSet", "redis"]["spec"]["template"]["spec"]["containers"][0]
    maxclients = int(redis["args"][redis["args"].index("--maxclients") + 1])
    assert pods * (pool + DAPRD_REDIS_CONNECTIONS) <= maxclients
