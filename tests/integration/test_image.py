"""The image, built with Docker (`make image`) and run as the Deployment runs it: the app as uid
10001 with the image's command and the Deployment's env and Secrets, daprd beside it configured
as the Dapr injector configures it from the annotations, the k8s twins of the components, and
Redis, placement and scheduler in containers too, all on one pod's loopback (image_pod.py).
The tutorial's validation points go through it, then a live update as Tilt does it.

Needs a Docker engine: installed (Debian's docker.io, as root) and started (dockerd, no
systemd) when missing; the dockerd started here is stopped at the end, by its pid. When neither
works the test fails saying so: it never skips."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.chat_client import chat, count, eventually, history, memory
from tests.integration.image_pod import IMAGE, DockerError, Pod, tar_of, tool

pytestmark = pytest.mark.image

# Tilt's docker_build entrypoint: the image's CMD plus these (tests/deploy/test_tiltfile.py
# holds the Tiltfile to exactly that), and its live_update's sync of ./src to /app/src.
TILT_RELOAD = ["--reload", "--reload-dir", "/app/src"]
SYNCED_FILE = "/app/src/agent_actors/main.py"


@pytest.fixture(scope="module")
def docker() -> Iterator[str]:
    """Docker's CLI with a daemon answering; a dockerd started here is stopped at the end."""
    try:
        tool("engine.sh", "install", timeout=600)
        status = tool("engine.sh", "start", timeout=300).strip()
        cli = tool("engine.sh", "cli").strip()
    except (DockerError, subprocess.TimeoutExpired) as exc:
        pytest.fail(
            "the image test needs a Docker engine, and none could be installed or started "
            f"(tools/docker/engine.sh): {exc}",
            pytrace=False,
        )
    started = int(status.split()[1]) if status.startswith("started ") else None
    try:
        yield cli
    finally:
        if started is not None:
            tool("engine.sh", "stop", str(started), timeout=120)


@pytest.fixture(scope="module")
def pod(docker: str) -> Iterator[Pod]:
    tool("image.sh", timeout=1800)  # what `make image` runs
    stack_image = tool("base-images.sh", "stack", timeout=900).strip()
    pod = Pod(docker, IMAGE, stack_image)
    try:
        pod.start()
        pod.wait_ready()
        yield pod
    finally:
        pod.stop()


@pytest.fixture
def app(pod: Pod) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pod.app_url, timeout=60) as client:
        yield client


def user() -> str:
    return f"u{uuid.uuid4().hex[:12]}"


def test_the_pod_runs_as_the_deployment_and_the_injector_say(pod: Pod, app: httpx.Client) -> None:
    assert pod.exec("app", ["id", "-u"]).strip() == "10001"
    assert pod.exec("daprd", ["id", "-u"]).strip() == "65532"
    # The image's own command (the Deployment sets none), run by its own venv.
    # uvicorn is a script: the kernel runs the venv's python with its path, then the args.
    python, script, *args = pod.exec("app", ["cat", "/proc/1/cmdline"]).split("\0")[:-1]
    cmd = pod.command_of(IMAGE)
    assert (python, script, args) == ("/app/.venv/bin/python", "/app/.venv/bin/uvicorn", cmd[1:])
    view = app.get("/inspect/runtime").json()
    assert view["app_id"] == "agent-actors"
    # The k8s twins, loaded as they are (Redis at redis-master:6379).
    components = {c["name"]: c["type"] for c in view["components"]}
    assert components == {
        "statestore": "state.redis",
        "daca-pubsub": "pubsub.redis",
        "daca-broadcast": "pubsub.redis",
    }
    subs = {s["topic"]: (s["routes"], s["dead_letter_topic"]) for s in view["subscriptions"]}
    assert subs == {
        "user-chat": (["/subscribe"], "user-chat-deadletter"),
        "user-chat-deadletter": (["/subscribe/dead-letter"], None),
        "agent-tasks": (["/subscribe/tasks"], "agent-tasks-deadletter"),
        "agent-tasks-deadletter": (["/subscribe/tasks/dead-letter"], None),
        "agent-task-replies": (["/subscribe/task-replies"], None),
    }
    assert {a["type"] for a in view["actors"]} == {"ChatAgent", "ResponseAgent", "MemoryAgentActor"}


def test_tutorial_validation_points(pod: Pod, app: httpx.Client) -> None:
    who = user()
    first = chat(app, who, "Hi, I am in a container")["response"]
    assert first["role"] == "assistant"
    assert "Got your message: Hi, I am in a container" in first["content"]
    second = chat(app, who, "Still here")["response"]
    assert "Got your message: Still here" in second["content"]
    view = history(app, who)
    assert view["total"] == 4
    assert [e["role"] for e in view["history"]] == ["user", "assistant", "user", "assistant"]
    assert count(app, who) == 2
    # Memory comes over pub/sub (Redis Streams, the k8s Subscription) to MemoryAgentActor.
    eventually(lambda: memory(app, who), lambda m: len(m) >= 2)
    # AGENT_ACTORS_LOG_JSON from the Deployment: the app logs JSON lines.
    lines = [json.loads(line) for line in pod.logs("app", tail=400).splitlines() if line]
    assert any(f"turn user={who} seq=1: committed" == line.get("message") for line in lines)


def test_sidecar_routes_need_the_app_token(app: httpx.Client) -> None:
    # The app read APP_API_TOKEN from the Secret the injector gave daprd as well: actor calls
    # work (above), a caller without the token is refused.
    assert app.post("/subscribe", json={}).status_code == 401
    assert app.put("/actors/ChatAgent/x/method/chat", json={}).status_code == 401


def test_a_live_update_takes_effect(pod: Pod) -> None:
    who = user()
    with httpx.Client(base_url=pod.app_url, timeout=60) as client:
        chat(client, who, "before the dev loop")
    # Tilt runs the container with its entrypoint: the image's CMD with --reload.
    pod.stop_app()
    pod.start_app([*pod.command_of(IMAGE), *TILT_RELOAD])
    pod.wait_ready()
    nonce = uuid.uuid4().hex
    with httpx.Client(base_url=pod.app_url, timeout=60) as client:
        assert history(client, who)["total"] == 2  # state is Redis's, not the container's
        assert client.get("/live-update-probe").status_code == 404
        # An edit of src/agent_actors/main.py, synced as Tilt syncs it: a tar of the changed
        # file unpacked at / by `tar` in the container, as the container's user.
        source = pod.exec("app", ["cat", SYNCED_FILE])
        edited = source + LIVE_EDIT.format(nonce=nonce)
        pod.exec(
            "app", ["tar", "-C", "/", "-x", "-f", "-"], stdin=tar_of({SYNCED_FILE: edited.encode()})
        )

        def served() -> str | None:
            try:
                resp = client.get("/live-update-probe")
            except httpx.HTTPError:  # uvicorn restarting
                return None
            return str(resp.json()["nonce"]) if resp.status_code == 200 else None

        try:
            eventually(served, lambda seen: seen == nonce, timeout=60)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{pod.logs('app')}") from None
        pod.wait_ready()
        reply = chat(client, who, "after the live update")["response"]
        assert "Got your message: after the live update" in reply["content"]
        assert history(client, who)["total"] == 4


LIVE_EDIT = """

# Added by tests/integration/test_image.py's live update.
_create_app_before_the_edit = create_app


def create_app(*args, **kwargs):  # type: ignore[no-redef]
    app = _create_app_before_the_edit(*args, **kwargs)
    app.add_api_route("/live-update-probe", lambda: {{"nonce": "{nonce}"}}, methods=["GET"])
    return app
"""
