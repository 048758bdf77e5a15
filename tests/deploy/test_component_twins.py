"""components/ (the local stack, dapr.yaml) and k8s/dapr/ (the cluster) are twins: the same
resources under the same names, with the same meaning; only the Redis address differs."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from agent_actors.settings import DaprSettings
from tests.deploy.dapr_sources import as_dapr_reads
from tests.manifests import COMPONENTS_DIR, K8S_DIR, Doc, load_dir

LOCAL = {m.key: m.doc for m in load_dir(COMPONENTS_DIR)}
TWINS = {m.key: m.doc for m in load_dir(K8S_DIR / "dapr")}
CLUSTER = {m.key: m.doc for m in load_dir(K8S_DIR)}
EXPECTED = {
    ("Component", "statestore"),
    ("Component", "daca-pubsub"),
    ("Component", "daca-broadcast"),
    ("Subscription", "message-subscription"),
    ("Subscription", "deadletter-subscription"),
    ("Subscription", "task-subscription"),
    ("Subscription", "task-deadletter-subscription"),
    ("Subscription", "task-reply-subscription"),
    ("Resiliency", "agent-actors-resiliency"),
    ("Configuration", "agent-actors-config"),
}


def test_same_names_and_kinds() -> None:
    assert set(LOCAL) == EXPECTED
    assert set(TWINS) == EXPECTED


@pytest.mark.parametrize("key", sorted(EXPECTED), ids="/".join)
def test_same_api_version_and_scopes(key: tuple[str, str]) -> None:
    assert TWINS[key]["apiVersion"] == LOCAL[key]["apiVersion"]
    assert TWINS[key].get("scopes") == LOCAL[key].get("scopes")


def _redis_service_hosts() -> set[str]:
    hosts = set()
    for (kind, name), doc in CLUSTER.items():
        if kind != "Service" or doc["spec"].get("clusterIP") == "None":
            continue
        if doc["spec"]["selector"].get("app.kubernetes.io/name") != "redis":
            continue
        ports = {p["port"] for p in doc["spec"]["ports"]}
        hosts |= {f"{name}:{p}" for p in ports}
    return hosts


def _without_redis_host(doc: Doc) -> tuple[Doc, dict[str, str]]:
    doc = copy.deepcopy(doc)
    items = doc["spec"]["metadata"]
    host = next(i for i in items if i["name"] == "redisHost")
    items.remove(host)
    return doc, {k: v for k, v in host.items() if k != "name"}


@pytest.mark.parametrize("name", ["statestore", "daca-pubsub", "daca-broadcast"])
def test_components_differ_only_in_the_redis_address(name: str, dapr_module: Path) -> None:
    local, local_host = _without_redis_host(as_dapr_reads(LOCAL["Component", name]))
    twin, twin_host = _without_redis_host(as_dapr_reads(TWINS["Component", name]))
    assert local_host == {"envRef": "REDIS_HOST"}
    assert set(twin_host) == {"value"}
    assert twin_host["value"] in _redis_service_hosts(), "not a Service of k8s/redis.yaml"
    assert twin["spec"]["type"] == local["spec"]["type"]
    assert twin == local


@pytest.mark.parametrize(
    "key",
    sorted(k for k in EXPECTED if k[0] != "Component"),
    ids="/".join,
)
def test_other_resources_mean_the_same(key: tuple[str, str], dapr_module: Path) -> None:
    assert as_dapr_reads(TWINS[key]) == as_dapr_reads(LOCAL[key])


def test_state_store_is_the_actor_state_store() -> None:
    for docs in (LOCAL, TWINS):
        meta = {
            i["name"]: i.get("value") for i in docs["Component", "statestore"]["spec"]["metadata"]
        }
        assert meta["actorStateStore"] == "true"


def test_names_match_what_the_app_uses() -> None:
    d = DaprSettings()
    for docs in (LOCAL, TWINS):
        assert docs["Component", d.pubsub_name]["spec"]["type"] == "pubsub.redis"
        main = docs["Subscription", "message-subscription"]
        assert main["spec"]["pubsubname"] == d.pubsub_name
        assert main["spec"]["topic"] == d.topic
        assert main["spec"]["deadLetterTopic"] == d.dead_letter_topic
        dead = docs["Subscription", "deadletter-subscription"]
        assert dead["spec"]["topic"] == d.dead_letter_topic
        assert d.app_id in main["scopes"]
        tasks = docs["Subscription", "task-subscription"]["spec"]
        assert (tasks["pubsubname"], tasks["topic"]) == (d.pubsub_name, d.task_topic)
        task_dead = docs["Subscription", "task-deadletter-subscription"]["spec"]
        assert task_dead["topic"] == tasks["deadLetterTopic"]
        assert docs["Component", d.reply_pubsub_name]["spec"]["type"] == "pubsub.redis"
        replies = docs["Subscription", "task-reply-subscription"]["spec"]
        assert (replies["pubsubname"], replies["topic"]) == (d.reply_pubsub_name, d.reply_topic)
        retry = docs["Resiliency", "agent-actors-resiliency"]["spec"]["targets"]["components"]
        assert (
            retry[d.pubsub_name]["inbound"]["retry"]
            in (docs["Resiliency", "agent-actors-resiliency"]["spec"]["policies"]["retries"])
        )


def test_configuration_has_tracing() -> None:
    for docs in (LOCAL, TWINS):
        assert docs["Configuration", "agent-actors-config"]["spec"]["tracing"]["samplingRate"]
