// Transfer: the dialog that sends the selected conversation to another agent
// or a queue, with a note, and what the desk does once a conversation of this
// agent was transferred away (from here, another tab or the API).

import { h, clear, $, APIError } from "./common.js";
import { state, saveUnread, agentName, queueLabel } from "./state.js";
import { api } from "./session.js";
import { renderList } from "./list.js";
import { renderConversation } from "./transcript.js";
import { showSendError } from "./composer.js";
import { toast } from "./alerts.js";

// loadTargets reads where the conversation can go (agents of its account's
// queues, and those queues) and remembers their names.
export async function loadTargets(id) {
  const t = await api("GET", "/api/v1/conversations/" + encodeURIComponent(id) + "/transfer-targets");
  state.targetsFetched.add(id);
  for (const a of t.agents || []) state.agentNames.set(a.id, a.name);
  for (const q of t.queues || []) state.queueNames.set(q.id, q.name);
  return t;
}

// The open dialog: its conversation, the targets read for it, and a sequence
// number that drops answers meant for a dialog since closed.
const transfer = { conv: null, targets: null, seq: 0 };

async function openTransfer() {
  const conv = state.current;
  if (!conv || conv.status !== "assigned" || state.transferred[conv.id]) return;
  const seq = ++transfer.seq;
  transfer.conv = conv.id;
  transfer.targets = null;
  $("#transfer-who").textContent = conv.customer.name + " leaves your conversations; the note goes with it.";
  $("#transfer-note-input").value = "";
  document.querySelector('input[name="transfer-kind"][value="agent"]').checked = true;
  transferError("");
  const dlg = $("#transfer-dialog");
  if (!dlg.open) dlg.showModal();
  renderTargets();
  try {
    const t = await loadTargets(conv.id);
    if (seq !== transfer.seq) return;
    transfer.targets = t;
  } catch (e) {
    if (seq !== transfer.seq) return;
    transfer.targets = { agents: [], queues: [] };
    transferError("Could not load agents and queues: " + e.message);
  }
  renderTargets();
}

function transferKind() {
  const r = document.querySelector('input[name="transfer-kind"]:checked');
  return r ? r.value : "agent";
}

// renderTargets fills the select for the chosen kind. Offline agents are shown
// but cannot be chosen (the server refuses them); room is re-checked on submit.
function renderTargets() {
  const kind = transferKind();
  const sel = clear($("#transfer-target"));
  $("#transfer-target-label").textContent = kind === "agent" ? "Agent" : "Queue";
  const hint = $("#transfer-hint");
  const t = transfer.targets;
  let choosable = 0;
  if (!t) {
    sel.appendChild(h("option", { value: "" }, "Loading…"));
    hint.textContent = "";
  } else if (kind === "agent") {
    for (const a of t.agents) {
      const offline = a.presence === "offline";
      const room = a.remaining_capacity > 0 ? a.remaining_capacity + " free" : "no room";
      sel.appendChild(h("option", { value: a.id, disabled: offline }, a.name + " — " + a.presence + (offline ? "" : ", " + room)));
      if (!offline) choosable++;
    }
    if (t.agents.length === 0) sel.appendChild(h("option", { value: "" }, "No other agent in this account's queues"));
    hint.textContent = t.agents.length && !choosable ? "Every other agent is offline: transfer to a queue instead." : "Offline agents cannot take a transfer.";
  } else {
    for (const q of t.queues) {
      sel.appendChild(h("option", { value: q.id }, q.name + " — " + q.length + " waiting, " + q.agents_available + " available"));
      choosable++;
    }
    if (t.queues.length === 0) sel.appendChild(h("option", { value: "" }, "No queue"));
    hint.textContent = "The conversation waits in the queue behind those already there.";
  }
  const first = [...sel.options].find((o) => !o.disabled && o.value);
  if (first) sel.value = first.value;
  sel.disabled = !choosable;
  $("#transfer-submit").disabled = !choosable;
}

function transferError(msg) {
  const el = $("#transfer-error");
  el.hidden = !msg;
  el.textContent = msg || "";
}

export function closeTransferDialog() {
  transfer.seq++;
  transfer.conv = null;
  const dlg = $("#transfer-dialog");
  if (dlg.open) dlg.close();
}

async function submitTransfer(ev) {
  ev.preventDefault();
  const id = transfer.conv;
  const target = $("#transfer-target").value;
  if (!id || !target) return;
  const kind = transferKind();
  const note = $("#transfer-note-input").value.trim();
  if ([...note].length > 1000) {
    transferError("The note can have at most 1000 characters.");
    return;
  }
  const body = kind === "agent" ? { agent_id: target } : { queue_id: target };
  if (note) body.note = note;
  const btn = $("#transfer-submit");
  btn.disabled = true;
  transferError("");
  try {
    await api("POST", "/api/v1/conversations/" + encodeURIComponent(id) + "/transfer", body);
  } catch (e) {
    btn.disabled = false;
    transferError(e.message);
    // A 409 (offline, no room) may mean the list is stale: refresh it.
    if (e instanceof APIError && e.status === 409 && transfer.conv === id) {
      loadTargets(id).then((t) => {
        if (transfer.conv === id) {
          transfer.targets = t;
          renderTargets();
        }
      }, () => {});
    }
    return;
  }
  btn.disabled = false;
  closeTransferDialog();
  // The conversation.transferred event follows; act now rather than wait.
  markTransferred(id, body);
}

// markTransferred takes the conversation out of the list; the one open in the
// main pane stays, with a notice and no way to reply. A target's agent_name (a
// consult's event carries it) is remembered: the desk may not have read the
// names yet (loadTargets) when a transfer made elsewhere comes, and the
// conversation.transferred event that follows names only the agent's id.
export function markTransferred(id, target) {
  if (target.agent_id && target.agent_name) state.agentNames.set(target.agent_id, target.agent_name);
  const to = target.agent_id ? agentName(target.agent_id) : queueLabel(target.queue_id);
  const known = !!state.transferred[id] && !state.convs.has(id);
  state.transferred[id] = { to };
  const c = state.convs.get(id);
  state.convs.delete(id);
  delete state.activity[id];
  if (state.unread[id]) {
    delete state.unread[id];
    saveUnread();
  }
  for (const t of document.querySelectorAll(".toast[data-conversation]")) if (t.dataset.conversation === id) t.remove();
  const viewing = state.current && state.current.id === id;
  if (viewing) {
    if (state.current.status === "assigned") state.current.status = "transferred";
    showSendError("");
    renderConversation();
    if ($("#transfer-dialog").open && state.selected === id) closeTransferDialog();
  }
  renderList();
  // The pane says it already; a conversation out of sight gets a toast (once:
  // a transfer from this desk is followed by its own event).
  if (!viewing && !known) toast(((c && c.customer && c.customer.name) || "A conversation") + " was transferred to " + to + ".", "info");
}

export function bindTransfer() {
  $("#transfer-conv").addEventListener("click", openTransfer);
  $("#transfer-form").addEventListener("submit", submitTransfer);
  $("#transfer-cancel").addEventListener("click", closeTransferDialog);
  $("#transfer-dialog").addEventListener("close", () => {
    transfer.seq++;
    transfer.conv = null;
  });
  for (const r of document.querySelectorAll('input[name="transfer-kind"]')) r.addEventListener("change", renderTargets);
}
