// The inspector page: reads the service's own JSON routes, chats over the SSE route.
// Everything a user or a model wrote is put in the page as text (textContent), never as HTML.
"use strict";

const PAGE = 10; // conversation entries per page
const CALLS = 20; // model calls shown (the newest)
const FOLLOW_UP_MS = [300, 1000, 2500, 5000]; // memory is fed by pub/sub: look again shortly

const $ = (id) => document.getElementById(id);
const view = { user: "", agent: "", before: null, newer: [], runtime: null, generation: 0 };

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.detail ? String(body.detail) : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function getJSON(path) {
  const resp = await fetch(path, { headers: headers(), cache: "no-store" });
  const body = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

// A path of the user's routes, for the agent's thread shown (none: the default's).
function userPath(prefix, suffix = "") {
  const path = `${prefix}/${encodeURIComponent(view.user)}${suffix}`;
  if (!view.agent) return path;
  return `${path}${path.includes("?") ? "&" : "?"}agent=${encodeURIComponent(view.agent)}`;
}

function say(text) {
  $("status").textContent = text;
}

function fail(sectionId, err) {
  const box = document.querySelector(`#${sectionId} .error`);
  if (err) {
    let text = err.message;
    if (err.status === 401) text += " (enter an API key above)";
    box.textContent = text;
    box.hidden = false;
  } else {
    box.textContent = "";
    box.hidden = true;
  }
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function fillRows(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = el("tr");
      cells.forEach((c) => tr.append(el("td", c)));
      return tr;
    }),
  );
}

function fillMessages(listId, messages, firstIndex) {
  const list = $(listId);
  if (firstIndex !== undefined) list.start = firstIndex + 1;
  list.replaceChildren(
    ...messages.map((m) => {
      const li = el("li");
      li.append(el("span", `${m.role}:`, "role"), document.createTextNode(m.content));
      return li;
    }),
  );
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

// --- runtime (daprd's metadata) ---

async function loadRuntime() {
  try {
    const rt = await getJSON("/inspect/runtime");
    view.runtime = rt;
    fail("runtime", null);
    const summary = $("runtime-summary");
    summary.replaceChildren();
    for (const [term, value] of [
      ["app id", rt.app_id],
      ["Dapr runtime", rt.runtime_version],
      ["actor runtime", rt.actor_runtime],
      ["placement", rt.placement],
    ]) {
      summary.append(el("dt", term), el("dd", value || "–"));
    }
    fillRows("actors", rt.actors.map((a) => [a.type, a.count]));
    fillRows("components", rt.components.map((c) => [c.name, c.type, c.version]));
    fillRows(
      "subscriptions",
      rt.subscriptions.map((s) => [s.pubsub, s.topic, s.routes.join(", "), s.dead_letter_topic || "–"]),
    );
  } catch (err) {
    fail("runtime", err);
    if (err.status === 401) $("api-key").focus();
  }
}

// --- one user's actors ---

async function loadConversation() {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (view.before !== null) query.set("before", String(view.before));
  try {
    const h = await getJSON(userPath("/chat", `/history?${query}`));
    fail("conversation", null);
    const end = view.before === null ? h.total : Math.min(view.before, h.total);
    const start = end - h.history.length;
    $("conversation-meta").textContent =
      `${h.total} entries; showing ${h.history.length ? start + 1 : 0}–${end}; ` +
      `events not yet published: ${h.pending_events}`;
    fillMessages("history", h.history, start);
    $("older").disabled = h.next_before === null || h.next_before === undefined;
    $("older").dataset.before = h.next_before ?? "";
    $("newer").disabled = view.newer.length === 0;
  } catch (err) {
    fail("conversation", err);
  }
}

async function loadMemory() {
  try {
    const [mem, count, letters] = await Promise.all([
      getJSON(userPath("/memory")),
      getJSON(userPath("/response", "/count")),
      getJSON(userPath("/memory", "/dead-letters")),
    ]);
    fail("memory", null);
    fail("dead-letters", null);
    $("memory-meta").textContent =
      `reflects turn ${letters.last_seq} of ${letters.turns}; ResponseAgent's replies: ${count.count}`;
    $("memory-meta").dataset.lastSeq = letters.last_seq;
    $("memory-meta").dataset.turns = letters.turns;
    fillMessages("memory-window", mem.memory);
    $("dead-letters-meta").textContent = `${letters.total} recorded`;
    fillRows(
      "dead-letters-table",
      letters.dead_letters.map((d) => [d.seq, d.event_id || "–", when(d.at), when(d.replayed_at) || "no"]),
    );
    return letters.last_seq >= letters.turns;
  } catch (err) {
    fail("memory", err);
    return true;
  }
}

async function loadCalls() {
  try {
    const c = await getJSON(userPath("/chat", `/calls?limit=${CALLS}`));
    fail("calls", null);
    $("calls-meta").textContent = `${c.total} recorded; the newest ${c.calls.length} below`;
    fillRows(
      "calls-table",
      c.calls.map((r) => [
        r.seq,
        when(r.at),
        r.model,
        r.purpose,
        r.resumed ? `${r.attempt} (run started again after ${r.resumed} lost)` : r.attempt,
        r.status,
        r.latency_ms,
        `${r.tokens_in ?? "–"} / ${r.tokens_out ?? "–"}`,
        r.tool_calls.map(toolCall).join(", "),
        r.tool_calls
          .filter((t) => t.delegation)
          .map((t) => delegation(t.delegation))
          .join("; "),
        r.error || "",
      ]),
    );
  } catch (err) {
    fail("calls", err);
  }
}

// A tool call's name, and whether a lost run was running it (run again, or given up).
function toolCall(t) {
  return t.resumed_after_crash ? `${t.name} (attempt ${t.attempt}, after a crash)` : t.name;
}

// A task handed to a delegate, as a call record names it.
function delegation(d) {
  const answered = d.seq ? `, its turn ${d.seq}` : "";
  const why = d.error ? `: ${d.error}` : "";
  return `${d.delegate}: ${d.status} in ${d.latency_ms} ms (task ${d.task_id.slice(0, 8)}${answered})${why}`;
}

// The agent profiles, for the agent picker (kept when they were read once).
async function loadAgents(quiet = false) {
  const select = $("agent-select");
  if (select.dataset.loaded) return;
  try {
    const book = await getJSON("/agents");
    const chosen = select.value;
    select.replaceChildren(
      ...book.agents.map((a) => {
        const option = el("option", a.default ? `${a.name} (default)` : a.name);
        option.value = a.default ? "" : a.name;
        return option;
      }),
    );
    select.value = chosen;
    select.dataset.loaded = "yes";
  } catch (err) {
    // Before a key is entered the page has none to send: it asks again on Inspect.
    if (!quiet) fail("agent", err);
  }
}

// The session's agents: a row each, with a button that shows that agent's thread.
function showSessionAgents(agents, defaultName) {
  const body = document.querySelector("#session-agents tbody");
  body.replaceChildren(
    ...agents.map((a) => {
      const tr = el("tr");
      const shown = (a.agent === defaultName ? "" : a.agent) === view.agent;
      tr.append(el("td", shown ? `${a.agent} (shown)` : a.agent), el("td", a.turns));
      tr.append(el("td", a.last_activity ? new Date(a.last_activity * 1000).toLocaleString() : "–"));
      const cell = el("td");
      const button = el("button", `Show ${a.agent}`);
      button.type = "button";
      button.disabled = shown;
      button.addEventListener("click", () => showAgent(a.agent === defaultName ? "" : a.agent));
      cell.append(button);
      tr.append(cell);
      return tr;
    }),
  );
}

async function showAgent(agent) {
  view.agent = agent;
  $("agent-select").value = agent;
  view.before = null;
  view.newer = [];
  remember();
  await loadUser();
}

// The conversation's agent, and its open turn: the one after the committed ones, if any.
async function loadAgent() {
  try {
    const s = await getJSON(userPath("/chat"));
    const summary = $("agent-summary");
    summary.replaceChildren();
    for (const [term, value] of [
      ["agent", s.agent],
      ["responder", s.profile.responder],
      ["model", s.profile.model],
      ["memory window", s.profile.memory_window],
      ["prompt history", s.profile.prompt_history],
    ]) {
      summary.append(el("dt", term), el("dd", value ?? "–"));
    }
    showSessionAgents(s.agents || [], (s.agents && s.agents[0] && s.agents[0].agent) || "");
    showTurn(s.turns + 1, await openTurn(s.turns + 1));
    fail("agent", null);
  } catch (err) {
    fail("agent", err);
  }
}

// GET …/turns/{seq}: null when there is no such turn (404 turn_not_found).
async function openTurn(seq, wait = 0) {
  try {
    return await getJSON(userPath("/chat", `/turns/${seq}${wait ? `?wait=${wait}` : ""}`));
  } catch (err) {
    if (err.code === "turn_not_found") return null;
    throw err;
  }
}

function showTurn(seq, turn) {
  const text = $("open-turn");
  const call = $("open-turn-call");
  const form = $("approval-form");
  const awaiting = turn !== null && turn.status === "awaiting_approval";
  call.hidden = !awaiting;
  form.hidden = !awaiting;
  form.dataset.seq = seq;
  // The decision names the call shown: one that comes after it is never decided unseen.
  form.dataset.callId = awaiting ? turn.approval.call_id : "";
  if (turn === null) {
    text.textContent = "None.";
  } else if (turn.status === "pending") {
    const again = turn.resumed ? ` (its run started again after ${turn.resumed} lost)` : "";
    text.textContent = `Turn ${seq} pending: the reply is being written${again}.`;
  } else if (awaiting) {
    text.textContent = `Turn ${seq} awaiting approval: a tool call waits for a person.`;
    call.replaceChildren();
    for (const [term, value] of [
      ["call", turn.approval.call_id],
      ["tool", turn.approval.tool],
      ["arguments", turn.approval.arguments],
      ["deadline", new Date(turn.approval.deadline * 1000).toLocaleString()],
      ["why", turn.approval.reason || "its tool needs approval"],
    ]) {
      call.append(el("dt", term), el("dd", value));
    }
  } else if (turn.status === "failed") {
    text.textContent = `Turn ${seq} failed: ${turn.error.code}: ${turn.error.detail}`;
  } else {
    text.textContent = `Turn ${seq} ${turn.status}.`;
  }
}

// Approve or deny, then wait for the turn to go on: its reply shows as a chat reply would.
async function decide(event) {
  event.preventDefault();
  const form = $("approval-form");
  const seq = Number(form.dataset.seq);
  const approve = event.submitter ? event.submitter.value === "true" : true;
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  say(approve ? `Approving turn ${seq}…` : `Denying turn ${seq}…`);
  try {
    const resp = await fetch(userPath("/chat", `/turns/${seq}/approval`), {
      method: "POST",
      headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({
        call_id: form.dataset.callId,
        approve,
        note: $("approval-note").value,
      }),
    });
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    fail("agent", null);
    $("approval-note").value = "";
    let turn = null;
    for (let i = 0; i < 3; i++) {
      turn = await openTurn(seq, 10);
      showTurn(seq, turn);
      if (!turn || turn.status !== "pending") break;
    }
    if (turn && turn.status === "done") {
      $("reply").textContent = turn.response.content;
      $("turn-info").replaceChildren(el("span", `Turn ${seq} committed.`));
      $("turn-info").dataset.seq = seq;
    } else if (turn && turn.status === "failed") {
      fail("chat", new ApiError(502, turn.error));
    }
    say(`Turn ${seq}: ${turn ? turn.status : "gone"}.`);
  } catch (err) {
    fail("agent", err);
    say("The decision failed.");
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
  await afterTurn();
}

async function loadUser() {
  if (!view.user) return;
  say(`Loading ${view.user}…`);
  await Promise.all([loadAgent(), loadConversation(), loadMemory(), loadCalls()]);
  say(`Showing ${view.user}.`);
}

// After a turn: everything now, then memory again until pub/sub has delivered the turn.
async function afterTurn() {
  const generation = ++view.generation;
  view.before = null;
  view.newer = [];
  await loadUser();
  await loadRuntime();
  for (const ms of FOLLOW_UP_MS) {
    if (generation !== view.generation) return;
    if (Number($("memory-meta").dataset.lastSeq) >= Number($("memory-meta").dataset.turns)) return;
    await new Promise((resolve) => setTimeout(resolve, ms));
    await loadMemory();
  }
}

// --- chat over Server-Sent Events (fetch: EventSource cannot POST) ---

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return { name, data: data.length ? JSON.parse(data.join("\n")) : {} };
}

function traceLink(resp) {
  // W3C trace context's traceresponse header: 00-<trace id>-<span id>-<flags>.
  const header = resp.headers.get("traceresponse");
  const template = view.runtime && view.runtime.trace_url;
  if (!header || !template) return null;
  const traceId = header.split("-")[1];
  const link = el("a", `trace ${traceId.slice(0, 8)}…`);
  link.href = template.replace("{trace_id}", traceId);
  link.target = "_blank";
  link.rel = "noopener";
  return link;
}

async function send(text) {
  const reply = $("reply");
  const info = $("turn-info");
  reply.textContent = "";
  reply.dataset.tokens = "0";
  reply.setAttribute("aria-busy", "true");
  info.replaceChildren();
  fail("chat", null);
  const resp = await fetch(userPath("/chat", "/stream"), {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(
      view.agent ? { role: "user", content: text, agent: view.agent } : { role: "user", content: text },
    ),
  });
  if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
  const link = traceLink(resp);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      handle(parseEvent(buffer.slice(0, cut)), link);
      buffer = buffer.slice(cut + 2);
    }
  }
}

function handle(event, link) {
  const reply = $("reply");
  if (event.name === "token") {
    reply.append(document.createTextNode(event.data.text));
    reply.dataset.tokens = String(Number(reply.dataset.tokens) + 1);
  } else if (event.name === "reset") {
    reply.textContent = "";
  } else if (event.name === "done") {
    reply.textContent = event.data.content; // the committed reply is the reference
    reply.setAttribute("aria-busy", "false");
    const info = $("turn-info");
    info.replaceChildren(el("span", `Turn ${event.data.seq} committed.`));
    if (link) info.append(" ", link);
    info.dataset.seq = event.data.seq;
  } else if (event.name === "error") {
    reply.setAttribute("aria-busy", "false");
    fail("chat", new ApiError(event.data.status, event.data));
  }
}

// --- wiring ---

// The user in the field becomes the one shown (and the one the chat writes as).
function selectUser() {
  const input = $("user-id");
  if (!input.value.trim() || !input.checkValidity()) {
    say("Enter a user id: letters, digits and _.@- (up to 64).");
    input.focus();
    return false;
  }
  const agent = $("agent-select").value;
  if (input.value.trim() !== view.user || agent !== view.agent) {
    view.user = input.value.trim();
    view.agent = agent;
    view.before = null;
    view.newer = [];
  }
  remember();
  return true;
}

// The user and agent shown, in the address (a link to the page shows the same) and the chat.
function remember() {
  const url = new URL(window.location.href);
  url.searchParams.set("user", view.user);
  if (view.agent) url.searchParams.set("agent", view.agent);
  else url.searchParams.delete("agent");
  window.history.replaceState(null, "", url);
  $("chat-user").textContent = view.agent ? `(as ${view.user}, to ${view.agent})` : `(as ${view.user})`;
}

async function pickUser(event) {
  event.preventDefault();
  await loadAgents();
  if (!selectUser()) return;
  // Reading a user's views activates its actors: the counts are read after them.
  await loadUser();
  await loadRuntime();
}

async function submitChat(event) {
  event.preventDefault();
  if (!selectUser()) return;
  const box = $("message");
  const text = box.value;
  if (!text.trim()) return;
  $("send").disabled = true;
  say("Waiting for the reply…");
  try {
    await send(text);
    box.value = "";
    say("Reply committed.");
  } catch (err) {
    $("reply").setAttribute("aria-busy", "false");
    fail("chat", err);
    say("The turn failed.");
  } finally {
    $("send").disabled = false;
  }
  await afterTurn();
}

function init() {
  $("connect").addEventListener("submit", pickUser);
  $("chat-form").addEventListener("submit", submitChat);
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("chat-form").requestSubmit();
  });
  $("approval-form").addEventListener("submit", decide);
  // Another agent picked: its thread is shown at once (once a user is).
  $("agent-select").addEventListener("change", () => {
    if (view.user) showAgent($("agent-select").value);
  });
  // A key entered: the agents can be read now, when they could not before.
  $("api-key").addEventListener("change", () => loadAgents(true));
  $("runtime-refresh").addEventListener("click", loadRuntime);
  $("user-refresh").addEventListener("click", loadUser);
  $("older").addEventListener("click", () => {
    view.newer.push(view.before);
    view.before = Number($("older").dataset.before);
    loadConversation();
  });
  $("newer").addEventListener("click", () => {
    view.before = view.newer.pop() ?? null;
    loadConversation();
  });
  const params = new URL(window.location.href).searchParams;
  if (params.get("user")) $("user-id").value = params.get("user");
  view.agent = params.get("agent") || "";
  const select = $("agent-select");
  if (view.agent) select.append(Object.assign(el("option", view.agent), { value: view.agent }));
  select.value = view.agent;
  loadRuntime();
  loadAgents(true);
}

document.addEventListener("DOMContentLoaded", init);
