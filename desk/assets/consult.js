// Consult: the agent invites an available colleague (or a queue's next
// available agent) to look at the conversation with it. The consultant sees
// the conversation in its list and live, writes notes (never replies), and
// either side ends the consult; the agent can hand the conversation over to the
// consultant (a transfer). The consults bar under the header shows who
// consults, or, to a consultant, whose conversation it is.

import { h, clear, $ } from "./common.js";
import { state } from "./state.js";
import { api } from "./session.js";
import { loadList, renderList } from "./list.js";
import { loadConversation, renderConversation } from "./transcript.js";
import { loadTargets, markTransferred } from "./transfer.js";
import { toast } from "./alerts.js";

// consulting says whether the signed-in agent only consults on conv.
export function consulting(conv) {
  return !!(conv && state.me && conv.agent_id && conv.agent_id !== state.me.id);
}

function path(conv, rest) {
  return "/api/v1/conversations/" + encodeURIComponent(conv.id) + "/consults" + (rest || "");
}

// renderConsults draws the consults bar of the open conversation.
export function renderConsults() {
  const conv = state.current;
  const bar = clear($("#consult-bar"));
  const list = conv.consults || [];
  const mine = consulting(conv) ? list.find((k) => state.me && k.agent_id === state.me.id) : null;
  const primaryOpen = !consulting(conv) && conv.status !== "closed" && !state.transferred[conv.id];
  $("#consult-conv").hidden = !primaryOpen;
  if (mine) {
    bar.appendChild(h("span", { class: "consult-text" }, (mine.invited_by_name || "Another agent") + " asked you to consult: you can read this conversation and add notes."));
    bar.appendChild(h("button", { type: "button", class: "btn small", id: "end-my-consult", onclick: () => endConsult(conv, mine) }, "End consult"));
  } else if (list.length && primaryOpen) {
    bar.appendChild(h("span", { class: "consult-text" }, "Consulting:"));
    for (const k of list) {
      bar.appendChild(
        h(
          "span",
          { class: "consultant", dataset: { agent: k.agent_id } },
          k.agent_name,
          h("button", { type: "button", class: "btn ghost small consult-transfer", title: "Transfer the conversation to " + k.agent_name, onclick: () => transferTo(conv, k) }, "Transfer to"),
          h("button", { type: "button", class: "btn ghost small consult-end", title: "End " + k.agent_name + "'s consult", onclick: () => endConsult(conv, k) }, "End")
        )
      );
    }
  }
  bar.hidden = bar.childNodes.length === 0;
}

// openInvite shows the invite row: available agents and the queues.
async function openInvite() {
  const conv = state.current;
  if (!conv) return;
  const row = $("#consult-invite");
  row.hidden = !row.hidden;
  if (row.hidden) return;
  const sel = clear($("#consult-target"));
  sel.appendChild(h("option", { value: "" }, "Loading…"));
  try {
    const t = await loadTargets(conv.id);
    clear(sel);
    const taken = new Set((conv.consults || []).map((k) => k.agent_id));
    for (const a of t.agents || []) {
      if (a.presence !== "available" || taken.has(a.id)) continue;
      sel.appendChild(h("option", { value: "agent:" + a.id }, a.name));
    }
    for (const q of t.queues || []) sel.appendChild(h("option", { value: "queue:" + q.id }, "Next available in " + q.name));
    if (!sel.options.length) sel.appendChild(h("option", { value: "" }, "Nobody is available"));
  } catch (e) {
    clear(sel).appendChild(h("option", { value: "" }, "Could not load agents"));
    toast("Could not load agents: " + e.message, "error");
  }
}

async function invite() {
  const conv = state.current;
  const v = $("#consult-target").value;
  if (!conv || !v) return;
  const [kind, id] = v.split(":");
  try {
    const k = await api("POST", path(conv), kind === "agent" ? { agent_id: id } : { queue_id: id });
    toast((k.agent_name || "An agent") + " is consulting now.", "info");
    $("#consult-invite").hidden = true;
  } catch (e) {
    toast("Could not invite: " + e.message, "error");
  }
  await loadConversation(conv.id);
}

async function endConsult(conv, k) {
  try {
    await api("DELETE", path(conv, "/" + encodeURIComponent(k.id)));
  } catch (e) {
    toast("Could not end the consult: " + e.message, "error");
  }
  if (consulting(conv)) forget(conv.id);
  else await loadConversation(conv.id);
}

async function transferTo(conv, k) {
  try {
    await api("POST", path(conv, "/" + encodeURIComponent(k.id) + "/transfer"));
  } catch (e) {
    toast("Could not transfer: " + e.message, "error");
    await loadConversation(conv.id);
    return;
  }
  toast("Transferred to " + k.agent_name + ".", "info");
  // The conversation.transferred event follows; act now rather than wait.
  markTransferred(conv.id, { agent_id: k.agent_id, agent_name: k.agent_name });
}

// forget drops a conversation the agent no longer consults on.
function forget(id) {
  state.convs.delete(id);
  if (state.selected === id) {
    state.selected = null;
    state.current = null;
    renderConversation();
  }
  renderList();
}

// consultChanged applies consult.started / consult.ended: the consultant's
// list gains or loses the conversation, the open one redraws its bar.
export function consultChanged(d, started) {
  const k = d.consult || {};
  const id = d.conversation_id;
  if (!id || !state.me) return;
  if (k.agent_id === state.me.id) {
    if (started) toast("You were invited to consult on a conversation.", "info");
    // Ended by a transfer to this agent: conversation.assigned brings it back.
    if (!started && k.status !== "transferred") forget(id);
    else loadList();
  } else if (!started && k.status === "transferred") {
    // The consultant took the conversation over: it is theirs now. This event can
    // come before conversation.transferred, and reading the conversation first
    // would answer 404 and empty the pane the agent is looking at.
    markTransferred(id, { agent_id: k.agent_id, agent_name: k.agent_name });
    return;
  }
  if (state.current && state.current.id === id) loadConversation(id);
}

export function bindConsult() {
  $("#consult-conv").addEventListener("click", openInvite);
  $("#consult-send").addEventListener("click", invite);
  $("#consult-cancel").addEventListener("click", () => ($("#consult-invite").hidden = true));
}
