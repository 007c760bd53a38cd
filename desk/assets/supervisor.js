// The supervisor's live floor (issue 14): queues, agents and conversations of
// the queues the signed-in supervisor watches, kept current by the floor's
// event stream (GET /api/v1/supervisor/events: each "floor" event is the whole
// floor, so a reconnect needs nothing replayed), and the actions on one
// conversation: monitor (a live read-only transcript), join (a note, or a
// message as the page), reassign and force close. It uses the desk's session.
import { h, $, clear, request, fmtTime, statusPill, renderKeyed } from "/desk/assets/common.js";

const ui = {
  floor: null,
  monitored: null, // id of the conversation being monitored
  stream: null,
  states: new Set(["waiting", "assigned", "bot", "closed"]),
};

// fmtSecs: "45s", "3m 05s", "2h 10m".
function fmtSecs(s) {
  if (s === null || s === undefined) return "—";
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
  return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
}

function filters() {
  const p = new URLSearchParams();
  const set = (k, v) => v && p.set(k, v);
  set("state", $("#f-state").value);
  set("queue", $("#f-queue").value);
  set("agent", $("#f-agent").value);
  set("page", $("#f-page").value.trim());
  set("wait_s", $("#f-wait").value);
  if (ui.monitored) p.set("monitor", ui.monitored);
  return p.toString();
}

function connect() {
  if (ui.stream) ui.stream.close();
  const live = $("#live");
  live.textContent = "Connecting…";
  const stream = new EventSource("/api/v1/supervisor/events?" + filters());
  ui.stream = stream;
  stream.addEventListener("open", () => (live.textContent = "Live"));
  stream.addEventListener("error", () => (live.textContent = "Reconnecting…"));
  stream.addEventListener("floor", (e) => render(JSON.parse(e.data)));
  stream.addEventListener("transcript", (e) => renderTranscript(JSON.parse(e.data)));
}

function queueName(id) {
  const q = ui.floor && ui.floor.queues.find((x) => x.id === id);
  return q ? q.name : id || "—";
}

function render(floor) {
  ui.floor = floor;
  $("#sup-status").hidden = true;
  for (const id of ["#floor-queues-card", "#floor-agents-card", "#floor-conversations-card"]) $(id).hidden = false;

  const qrows = clear($("#floor-queues tbody"));
  for (const q of floor.queues) {
    Object.keys(q.states || {}).forEach((s) => ui.states.add(s));
    const states = Object.entries(q.states || {}).sort().map(([s, n]) => h("span", { class: "state", dataset: { state: s } }, statusPill(s), " " + n + " "));
    qrows.append(
      h("tr", { dataset: { id: q.id } },
        h("td", {}, q.name),
        h("td", { class: "num waiting" }, String(q.waiting)),
        h("td", { class: "num" }, q.waiting ? fmtSecs(q.longest_wait_s) : "—"),
        h("td", { class: "num available" }, String(q.agents_available)),
        h("td", { class: "num capacity" }, q.capacity_used + " / " + q.capacity_total),
        h("td", {}, ...states),
        h("td", { class: "num service-level" }, q.service_level_1h === null ? "—" : Math.round(q.service_level_1h * 100) + "%"),
      ),
    );
  }

  const arows = clear($("#floor-agents tbody"));
  for (const a of floor.agents) {
    const convs = h("ul", { class: "agent-convs" }, ...a.conversations.map((c) =>
      h("li", { dataset: { id: c.id } }, c.customer + " · ", statusPill(c.status), " " + fmtSecs(c.state_s))));
    arows.append(
      h("tr", { dataset: { id: a.id } },
        h("td", {}, a.name),
        h("td", {}, statusPill(a.presence), " " + fmtSecs(a.presence_s)),
        h("td", { class: "num load" }, a.load + " / " + a.capacity),
        h("td", {}, convs),
        h("td", { class: "num declined" }, String(a.offers_declined_today)),
      ),
    );
  }
  fillFilters(floor);

  renderConversations(floor.conversations);
  $("#sup-empty").hidden = floor.conversations.length > 0;
  fillReassign();
}

// renderConversations updates the conversations' rows in place (renderKeyed):
// a row and its Monitor button stay the same elements from one floor event to
// the next. A floor event comes every few seconds; had it replaced the button
// mid-click, the click would be lost and Monitor would do nothing.
function renderConversations(conversations) {
  renderKeyed($("#sup-rows"), conversations, conversationRow, (tr, c) => {
    const link = (format, label) =>
      h("a", { href: "/api/v1/conversations/" + encodeURIComponent(c.id) + "/transcript?format=" + format, target: "_blank", rel: "noopener" }, label);
    const cells = [
      h("td", {}, c.customer.name || c.customer.psid),
      h("td", {}, statusPill(c.status), " " + fmtSecs(c.state_s)),
      h("td", {}, c.queue_name || "—"),
      h("td", { class: "agent" }, c.agent_name || "—"),
      h("td", {}, c.page_name),
      h("td", { class: "num wait" }, fmtSecs(c.wait_s)),
      h("td", {}, link("html", "Print"), " · ", link("text", "Text"), " · ", link("json", "JSON")),
    ];
    // Every cell but the last, which holds the Monitor button.
    cells.forEach((td, i) => tr.children[i].replaceWith(td));
    tr.className = c.id === ui.monitored ? "selected" : "";
  });
}

// conversationRow is a conversation's row: its cells come from the update, its
// Monitor button stays.
function conversationRow(c) {
  const monitor = h("button", { type: "button", class: "btn small monitor" }, "Monitor");
  monitor.addEventListener("click", () => startMonitor(c.id));
  return h("tr", { dataset: { id: c.id } }, ...Array.from({ length: 7 }, () => h("td")), h("td", {}, monitor));
}

// fillFilters offers the queues, agents and states the floor shows, keeping the choice.
function fillFilters(floor) {
  const fill = (sel, first, options) => {
    const keep = sel.value;
    clear(sel).append(h("option", { value: "" }, first), ...options.map(([v, label]) => h("option", { value: v }, label)));
    sel.value = options.some(([v]) => v === keep) ? keep : "";
  };
  fill($("#f-queue"), "Any", floor.queues.map((q) => [q.id, q.name]));
  fill($("#f-agent"), "Any", floor.agents.map((a) => [a.id, a.name]));
  fill($("#f-state"), "Open (any state)", [...ui.states].sort().map((s) => [s, s.replace(/_/g, " ")]));
}

function fillReassign() {
  const sel = $("#reassign-target");
  const keep = sel.value;
  clear(sel).append(
    ...ui.floor.agents.map((a) => h("option", { value: "agent:" + a.id }, a.name + " (" + a.presence + ", " + a.load + "/" + a.capacity + ")")),
    ...ui.floor.queues.map((q) => h("option", { value: "queue:" + q.id }, "Queue " + q.name)),
  );
  if (keep) sel.value = keep;
}

async function startMonitor(id) {
  const status = $("#monitor-status");
  try {
    const conv = await request("POST", "/api/v1/supervisor/conversations/" + encodeURIComponent(id) + "/monitor");
    ui.monitored = id;
    $("#monitor").hidden = false;
    status.textContent = "";
    renderTranscript(conv);
    connect(); // the stream now carries this transcript too
    $("#monitor").scrollIntoView({ block: "nearest" });
  } catch (err) {
    $("#monitor").hidden = false;
    status.textContent = err.message;
  }
}

function renderTranscript(conv) {
  if (conv.id !== ui.monitored) return;
  $("#monitor-title").textContent = "Monitoring " + (conv.customer.name || conv.customer.psid);
  $("#monitor-meta").textContent = conv.status.replace(/_/g, " ") + (conv.close_reason ? " (" + conv.close_reason.replace(/_/g, " ") + ")" : "") +
    " · queue " + queueName(conv.queue_id);
  $("#monitor").dataset.status = conv.status;
  const box = clear($("#monitor-messages"));
  for (const m of conv.messages || []) {
    const who = { customer: "Customer", agent: "Agent", supervisor: "Supervisor", page: "Page", bot: "Bot", system: "Automated" }[m.sender] || m.sender;
    const note = m.kind === "note";
    box.append(h("div", { class: "line" + (note ? " note" : ""), dataset: { id: m.id, sender: m.sender } },
      h("span", { class: "muted" }, fmtTime(m.created_at) + " · " + (note ? "Internal note · " : "") + who + ": "), m.text || "📎 " + m.kind));
  }
  box.scrollTop = box.scrollHeight;
}

// act runs one action on the monitored conversation and says how it went.
async function act(action, body, done) {
  const status = $("#monitor-status");
  status.textContent = "…";
  try {
    await request("POST", "/api/v1/supervisor/conversations/" + encodeURIComponent(ui.monitored) + "/" + action, body);
    status.textContent = done;
    return true;
  } catch (err) {
    status.textContent = err.message;
    return false;
  }
}

$("#join-note-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (await act("join", { note: $("#join-note").value }, "Note added.")) $("#join-note").value = "";
});
$("#join-text-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (await act("join", { text: $("#join-text").value }, "Message sent.")) $("#join-text").value = "";
});
$("#reassign-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const [kind, id] = $("#reassign-target").value.split(":");
  const body = kind === "agent" ? { agent_id: id } : { queue_id: id };
  if ($("#reassign-force").checked) body.force = true;
  await act("reassign", body, "Reassigned.");
});
$("#close-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (await act("close", { reason: $("#close-reason").value }, "Closed.")) $("#close-reason").value = "";
});
$("#monitor-stop").addEventListener("click", () => {
  ui.monitored = null;
  $("#monitor").hidden = true;
  connect();
});
$("#floor-filters").addEventListener("change", connect);
$("#floor-filters").addEventListener("submit", (e) => {
  e.preventDefault();
  connect();
});

// start checks the session first: EventSource cannot tell a 401 from a
// network error, and a signed-out supervisor needs the sign-in hint.
async function start() {
  const status = $("#sup-status");
  try {
    render(await request("GET", "/api/v1/supervisor/floor"));
  } catch (err) {
    clear(status);
    status.hidden = false;
    if (err.status === 401) {
      status.append("Sign in to the ", h("a", { href: "/desk" }, "agent desk"), " first, then come back.");
    } else {
      status.textContent = err.message;
    }
    return;
  }
  connect();
}
start();
