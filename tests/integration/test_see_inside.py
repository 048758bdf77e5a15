"""Seeing inside the running service, on the real stack: the inspector page in a real browser
(Debian's chromium driven by Playwright), GET /metrics, and the JSON logs.

One stack for the module, as a deployment would run: API keys on, JSON logs on, a real
OpenAI-protocol server (the stub) so the reply streams token by token.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect, sync_playwright
from prometheus_client.parser import text_string_to_metric_families
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# docs/inspector.png is refreshed on request only, so a test run leaves the checkout as it was.
SCREENSHOT_TO_DOCS = os.environ.get("AGENT_ACTORS_UPDATE_SCREENSHOTS") == "1"
MODEL = "stub-model"
KEY = "inspector-key"
SUFFIX = uuid.uuid4().hex[:8]
ALICE, BOB, CAROL = f"alice-{SUFFIX}", f"bob-{SUFFIX}", f"carol-{SUFFIX}"
AUTH = {"Authorization": f"Bearer {KEY}"}
TRACE_UI = "http://127.0.0.1:16686"
# The default agent has no tools (so the other tests' model calls are plain ones); "guarded"
# asks a person before it reads the clock, for the page's Approve button.
AGENTS = """\
default: assistant
agents:
  assistant: {}
  guarded:
    tools: [{name: current_time, approval: required}]
  coordinator: {delegates: [billing]}
  billing: {}
"""
# The network here is closed, and the test needs nothing from Google: no first-run, sync,
# component updates, or QUIC probes.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def seen(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("see-inside")
    agents = run_dir / "agents.yaml"
    agents.write_text(AGENTS)
    env = {
        "AGENT_ACTORS_AGENTS__FILE": str(agents),
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": MODEL,
        "AGENT_ACTORS_AUTH__API_KEYS": json.dumps({KEY: f"{ALICE},{BOB},{CAROL}"}),
        "AGENT_ACTORS_LOG_JSON": "true",
        # One request per model failure, so each failed turn counts one error.
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
        # Tracing on, for the page's trace link and the logs' trace ids. No collector is
        # needed for those: the stub refuses the spans (404), which costs one request a batch.
        "AGENT_ACTORS_TRACING__ENABLED": "true",
        "AGENT_ACTORS_TRACING__OTLP_ENDPOINT": f"http://127.0.0.1:{stub.port}",
        "AGENT_ACTORS_TRACING__UI_URL": TRACE_UI,
    }
    # uvicorn's access lines on (off by default), to see them as JSON lines too.
    yield from start_stack(run_dir, extra_env=env, stack_options={"access_log": True})


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian's chromium with a fresh profile (Playwright's own browser builds are never
    downloaded)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's package")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def scrape(stack: RunningStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = stack.app.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def active(page: Page, actor_type: str) -> int:
    row = page.locator("#actors tbody tr", has=page.locator(f"td:text-is('{actor_type}')"))
    return int(row.locator("td").nth(1).inner_text()) if row.count() else 0


# Memory follows through pub/sub and the page looks again: generous on a loaded machine.
expect.set_options(timeout=20_000)


@pytest.mark.browser
def test_the_inspector_shows_a_turn_as_it_streams(
    seen: RunningStack, browser: BrowserContext, tmp_path: Path
) -> None:
    tmp_shot = tmp_path / "inspector.png"
    page = browser.new_page()
    page.goto(f"{seen.app_url}/ui?user={ALICE}")

    # API keys are on: nothing shows without one, and the page says so.
    expect(page.locator("#runtime .error")).to_contain_text("API key")

    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Inspect").click()
    expect(page.locator("#conversation-meta")).to_contain_text("0 entries")
    expect(page.locator("#agent-summary")).to_contain_text("assistant")
    expect(page.locator("#open-turn")).to_have_text("None.")
    expect(page.locator("#runtime-summary")).to_contain_text("agent-actors")
    expect(page.locator("#subscriptions")).to_contain_text("user-chat")
    expect(page.locator("#components")).to_contain_text("state.redis")
    expect(page.locator("#actors tbody")).to_contain_text("ChatAgent")
    before = {t: active(page, t) for t in ("ChatAgent", "ResponseAgent", "MemoryAgentActor")}
    assert before == {"ChatAgent": 1, "ResponseAgent": 1, "MemoryAgentActor": 1}

    # Bob chats through the page, by keyboard; the stub waits between tokens, so the reply
    # can be seen growing before the turn is committed.
    words = f"hello from the inspector page {SUFFIX}"
    message = f"[[token_delay:0.2]] {words}"
    page.get_by_label("User id").fill(BOB)
    page.get_by_label(re.compile("^Message")).fill(message)
    page.get_by_label(re.compile("^Message")).press("Control+Enter")
    reply = page.locator("#reply")
    page.wait_for_function(
        "() => { const r = document.getElementById('reply');"
        " return r.getAttribute('aria-busy') === 'true' && Number(r.dataset.tokens) >= 2; }"
    )
    partial = reply.inner_text()
    expected = f"stub reply to: {words}"  # the stub leaves its markers out
    assert expected.startswith(partial)
    assert 0 < len(partial) < len(expected)
    expect(reply).to_have_attribute("aria-busy", "false")
    expect(reply).to_have_text(expected)
    assert int(reply.get_attribute("data-tokens") or 0) > 3
    expect(page.locator("#turn-info")).to_contain_text("Turn 1 committed")
    link = page.get_by_role("link", name=re.compile("^trace "))
    assert re.fullmatch(rf"{TRACE_UI}/trace/[0-9a-f]{{32}}", link.get_attribute("href") or "")

    # The page then shows Bob's actors: history, count, calls, and memory once pub/sub has
    # delivered the turn; daprd's counts now include Bob's three actors.
    expect(page.locator("#conversation-meta")).to_contain_text("2 entries")
    expect(page.locator("#history")).to_contain_text(expected)
    expect(page.locator("#memory-meta")).to_contain_text("reflects turn 1 of 1")
    expect(page.locator("#memory-meta")).to_contain_text("ResponseAgent's replies: 1")
    expect(page.locator("#memory-window")).to_contain_text(message)
    expect(page.locator("#calls-table tbody")).to_contain_text(MODEL)
    expect(page.locator("#dead-letters-meta")).to_contain_text("0 recorded")
    expect(page.locator("#agent-summary")).to_contain_text(MODEL)
    expect(page.locator("#open-turn")).to_have_text("None.")
    expect(page.get_by_role("button", name="Approve")).to_be_hidden()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#actors tbody tr')].some("
        "r => r.cells[0].textContent === 'ChatAgent' && r.cells[1].textContent === '2')"
    )
    after = {t: active(page, t) for t in before}
    assert after == {"ChatAgent": 2, "ResponseAgent": 2, "MemoryAgentActor": 2}

    screenshot = REPO / "docs" / "inspector.png" if SCREENSHOT_TO_DOCS else tmp_shot
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000  # a rendered page, not an empty one
    page.close()


def test_metrics_move_as_turns_happen(seen: RunningStack) -> None:
    before = scrape(seen)
    for i in range(2):
        resp = seen.app.post(f"/chat/{ALICE}", json={"content": f"count me {i}"}, headers=AUTH)
        assert resp.status_code == 200, resp.text
    failed = seen.app.post(f"/chat/{ALICE}", json={"content": "[[fail500]] no"}, headers=AUTH)
    assert failed.status_code == 502
    with seen.app.stream(
        "POST", f"/chat/{ALICE}/stream", json={"content": "stream me"}, headers=AUTH
    ) as resp:
        assert resp.status_code == 200
        resp.read()
    turns = 3 + 1
    after = eventually(
        lambda: scrape(seen),
        lambda m: (
            sample(m, "agent_actors_memory_lag_seconds_count")
            >= sample(before, "agent_actors_memory_lag_seconds_count") + 3
        ),
    )

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("agent_actors_turns_total", outcome="ok") == 3
    assert moved("agent_actors_turns_total", outcome="responder_error") == 1
    assert moved("agent_actors_turn_seconds_count") == turns
    assert moved("agent_actors_turn_seconds_sum") > 0
    assert moved("agent_actors_model_calls_total", model=MODEL, status="ok") == 3
    assert moved("agent_actors_model_errors_total", kind="responder_error") == 1
    assert moved("agent_actors_model_tokens_total", model=MODEL, direction="out") > 0
    assert moved("agent_actors_memory_lag_seconds_count") == 3
    assert sample(after, "agent_actors_outbox_pending") == 0
    assert sample(after, "agent_actors_active_streams") == 0
    assert sample(after, "process_resident_memory_bytes") > 0
    # Open like /healthz, also with API keys on: no series names a user.
    assert ALICE not in seen.app.get("/metrics").text
    # daprd's own, where docs/observability.md says they are.
    port = seen.settings.stack.daprd_metrics_port
    daprd = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert daprd.status_code == 200
    for series in ("dapr_http_server_request_count", "dapr_component_pubsub_egress_count"):
        assert series in daprd.text


def test_logs_are_json_lines_with_the_turns_context(seen: RunningStack) -> None:
    resp = seen.app.post(f"/chat/{BOB}", json={"content": "log me"}, headers=AUTH)
    assert resp.status_code == 200
    seq = int(resp.headers["Turn-Seq"])
    log = seen.settings.stack.run_dir / "logs" / "app.log"

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]

    applied_line = f"user={BOB} seq={seq}: memory applied"
    records = eventually(lines, lambda rs: any(r["message"].startswith(applied_line) for r in rs))
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    committed = [r for r in records if r["message"] == f"turn user={BOB} seq={seq}: committed"]
    assert [(r["user"], r["seq"]) for r in committed] == [(BOB, seq)]
    assert re.fullmatch("[0-9a-f]{32}", committed[0]["trace_id"])
    applied = [r for r in records if r["message"].startswith(applied_line)]
    assert applied
    assert all((r["user"], r["seq"]) == (BOB, seq) for r in applied)
    # uvicorn's own lines, start-up and access, are JSON lines of the same shape.
    assert any(
        r["logger"] == "uvicorn.error" and "startup complete" in str(r["message"]) for r in records
    )
    access = [
        r for r in records if r["logger"] == "uvicorn.access" and r.get("path") == f"/chat/{BOB}"
    ]
    assert access
    assert (access[-1]["method"], access[-1]["status"]) == ("POST", 200)
    assert "test-key" not in log.read_text()


@pytest.mark.browser
def test_the_inspector_approves_a_waiting_tool_call(
    seen: RunningStack, browser: BrowserContext
) -> None:
    # Last in the module: the other tests count turns and model calls from their own start.
    body = {"content": f"[[tool:current_time]] what time is it {SUFFIX}", "agent": "guarded"}
    asked = seen.app.post(f"/chat/{CAROL}", json=body, headers=AUTH)
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "awaiting_approval"
    call_id = asked.json()["approval"]["call_id"]

    page = browser.new_page()
    # The turn is in guarded's thread of the session: a link names the agent.
    page.goto(f"{seen.app_url}/ui?user={CAROL}&agent=guarded")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Inspect").click()
    expect(page.locator("#open-turn")).to_contain_text("Turn 1 awaiting approval")
    expect(page.locator("#open-turn-call")).to_contain_text("current_time")
    expect(page.locator("#open-turn-call")).to_contain_text(call_id)
    # Why it waits: the profile's grant (a crash's rerun of a tool not idempotent says so).
    expect(page.locator("#open-turn-call")).to_contain_text("approval: required")
    expect(page.get_by_role("button", name="Deny")).to_be_visible()

    page.get_by_label("Note").fill("from the page")
    # The button's decision names the call the page shows.
    with page.expect_request(lambda r: r.url.endswith("/turns/1/approval?agent=guarded")) as sent:
        page.get_by_role("button", name="Approve").click()
    assert sent.value.post_data_json == {
        "call_id": call_id,
        "approve": True,
        "note": "from the page",
    }
    expect(page.locator("#turn-info")).to_contain_text("Turn 1 committed")
    expect(page.locator("#reply")).to_contain_text("tool current_time said: ")
    expect(page.locator("#open-turn")).to_have_text("None.")
    expect(page.get_by_role("button", name="Approve")).to_be_hidden()
    expect(page.locator("#conversation-meta")).to_contain_text("2 entries")
    # The conversation records its agent when its first turn commits.
    expect(page.locator("#agent-summary")).to_contain_text("guarded")
    calls = seen.app.get(f"/chat/{CAROL}/calls?agent=guarded", headers=AUTH).json()["calls"]
    call = calls[0]["tool_calls"][0]
    assert (call["name"], call["approval_note"]) == ("current_time", "from the page")
    page.close()


@pytest.mark.browser
def test_the_inspector_shows_a_sessions_agents_and_a_turns_delegations(
    seen: RunningStack, browser: BrowserContext
) -> None:
    # BOB's session, a thread of its own: the other tests' turns are in its default thread.
    page = browser.new_page()
    page.goto(f"{seen.app_url}/ui?user={BOB}")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Inspect").click()
    expect(page.locator("#session-agents tbody")).to_contain_text("assistant (shown)")
    # Picking an agent shows its thread of the session (the page reads the agents with the key).
    page.get_by_label("Agent", exact=True).select_option("coordinator")
    expect(page).to_have_url(re.compile(r"agent=coordinator"))
    page.get_by_label("Message").fill('[[tool:billing:{"task": "refund order 5?"}]]')
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#turn-info")).to_contain_text("committed")
    expect(page.locator("#reply")).to_contain_text("stub reply to: refund order 5?")
    # The turn's record names its delegation; the session lists both agents' threads.
    expect(page.locator("#calls-table tbody")).to_contain_text("billing: ok in")
    agents = page.locator("#session-agents tbody")
    expect(agents).to_contain_text("coordinator (shown)")
    expect(agents).to_contain_text("billing")
    page.get_by_role("button", name="Show billing").click()
    expect(page).to_have_url(re.compile(r"agent=billing"))
    expect(page.locator("#history")).to_contain_text("refund order 5?")
    expect(page.locator("#agent-summary")).to_contain_text("billing")
    page.close()


@pytest.mark.browser
def test_the_inspector_shows_a_long_turn_started_again_after_a_crash(
    seen: RunningStack, stub: StubServer, browser: BrowserContext
) -> None:
    # Last in the module: it kills the app (the stack brings it back).
    body = {"content": f"[[delay:3]] survive {SUFFIX}"}
    asked = seen.app.post(f"/chat/{ALICE}", json=body, headers={**AUTH, "Prefer": "respond-async"})
    assert asked.status_code == 202, asked.text
    location = asked.headers["Location"]
    eventually(lambda: stub.requests(f"survive {SUFFIX}"), bool)
    seen.stack.restart("app", crash=True)
    done = eventually(
        lambda: seen.app.get(location, headers=AUTH).json(),
        lambda s: s.get("status") not in (None, "pending"),
        timeout=90,
    )
    assert done["status"] == "done", done
    page = browser.new_page()
    page.goto(f"{seen.app_url}/ui?user={ALICE}")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Inspect").click()
    # The record of the run that wrote the reply says it was started again after a lost one.
    expect(page.locator("#calls-table tbody")).to_contain_text("run started again after 1 lost")
    page.close()
