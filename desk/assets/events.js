// The event stream: the agent's live events over SSE (/api/v1/me/events) —
// assignments, closes, transfers, new messages and reply statuses — folded into
// the state and onto the screen.

import { $, request, APIError } from "./common.js";
import { OPEN, state, saveUnread, countedSet, applyStatus, noteStatus } from "./state.js";
import { sessionEnded } from "./session.js";
import { loadList, renderList } from "./list.js";
import { loadConversation, renderMessages, senderLabel, scrollToEnd, renderWindow, renderCustomer, noteAdded, renderMonitored } from "./transcript.js";
import { markTransferred } from "./transfer.js";
import { alertAssigned, alertReminder, toast } from "./alerts.js";
import { reactionChanged } from "./reactions.js";
import { consultChanged } from "./consult.js";
import { onState, onOffered, onOfferEnded, onPresenceChanged } from "./states.js";

let es = null; // the open EventSource
let retry = 0; // reconnects refused in a row, for the back-off

export function startEvents() {
  stopEvents();
  // EventSource sends the session cookie, and on its own reconnects it sends
  // Last-Event-ID, so the server replays what was missed.
  const stream = new EventSource("/api/v1/me/events");
  es = stream;
  stream.addEventListener("open", () => {
    const wasDown = !$("#conn").hidden;
    $("#conn").hidden = true;
    // The list is read once the stream is open, at the desk's start and after a
    // reconnect: a fresh stream starts at the newest event, and what changed
    // before it came would be in neither a list read earlier nor the stream.
    loadList();
    if (retry > 0 || wasDown) {
      retry = 0;
      if (state.selected) loadConversation(state.selected);
    }
  });
  stream.addEventListener("error", () => {
    $("#conn").hidden = false;
    if (stream.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. signed out elsewhere): check why.
      es = null;
      const delay = Math.min(30000, 1000 * 2 ** retry++);
      setTimeout(async () => {
        if (!state.me) return;
        try {
          await request("GET", "/desk/session");
          startEvents();
        } catch (e) {
          if (e instanceof APIError && e.status === 401) sessionEnded();
          else startEvents();
        }
      }, delay);
    }
  });
  stream.addEventListener("conversation.assigned", (e) => onAssigned(parse(e)));
  stream.addEventListener("conversation.closed", (e) => onClosed(parse(e)));
  stream.addEventListener("conversation.transferred", (e) => onTransferred(parse(e)));
  stream.addEventListener("conversation.reminder", (e) => {
    const c = state.convs.get(parse(e).conversation_id);
    if (c) alertReminder(c);
  });
  stream.addEventListener("message.received", (e) => onReceived(parse(e)));
  stream.addEventListener("message.status", (e) => onStatus(parse(e)));
  stream.addEventListener("note.added", (e) => noteAdded(parse(e)));
  stream.addEventListener("customer.updated", (e) => onCustomerUpdated(parse(e)));
  stream.addEventListener("message.reaction", (e) => reactionChanged(parse(e)));
  stream.addEventListener("consult.started", (e) => consultChanged(parse(e), true));
  stream.addEventListener("consult.ended", (e) => consultChanged(parse(e), false));
  stream.addEventListener("conversation.monitored", (e) => onMonitored(parse(e)));
  stream.addEventListener("conversation.state", (e) => onState(parse(e)));
  stream.addEventListener("conversation.offered", (e) => onOffered(parse(e)));
  stream.addEventListener("conversation.offer_ended", (e) => onOfferEnded(parse(e)));
  stream.addEventListener("presence.changed", (e) => onPresenceChanged(parse(e)));
}

// onMonitored: a supervisor opened the conversation read-only (issue 14).
function onMonitored(d) {
  const id = d.conversation_id;
  const by = (d.by_supervisor && d.by_supervisor.name) || "A supervisor";
  if (!id) return;
  state.monitoredBy[id] = by;
  if (state.current && state.current.id === id) renderMonitored();
  else {
    const c = state.convs.get(id);
    toast(by + " is monitoring " + ((c && c.customer && c.customer.name) || "a conversation") + ".", "info", null, id);
  }
}

export function stopEvents() {
  if (es) es.close();
  es = null;
}

function parse(e) {
  try {
    return JSON.parse(e.data) || {};
  } catch {
    return {};
  }
}

function onAssigned(d) {
  const id = d.conversation_id;
  if (!id) return;
  // Ours again (transferred back): no longer a notice, a conversation.
  delete state.transferred[id];
  if (d.transferred_by) state.transferredBy[id] = d.transferred_by;
  else delete state.transferredBy[id];
  const before = state.convs.get(id);
  const conv = Object.assign({}, d.conversation || before || { id, status: "assigned", customer: { name: "New customer" } });
  if (d.note !== undefined && !conv.transfer_note) conv.transfer_note = d.note;
  state.convs.set(id, Object.assign({}, before || {}, conv, { messages: undefined }));
  state.arrivedAt.set(id, state.listReads);
  if (!before || !OPEN.has(before.status)) {
    state.activity[id] = { at: new Date().toISOString(), text: d.transferred_by ? "Transferred to you" : "New conversation" };
    alertAssigned(state.convs.get(id), d);
  }
  if (state.selected === id) loadConversation(id);
  renderList();
  if (!d.conversation) loadList();
}

// onTransferred: this agent gave the conversation away (from this desk, another
// tab or the API). It leaves "my conversations" at once; if it is the one open,
// the pane stays with a notice and no way to reply.
function onTransferred(d) {
  const id = d.conversation_id;
  if (!id) return;
  markTransferred(id, d.to_agent_id ? { agent_id: d.to_agent_id } : { queue_id: d.to_queue_id });
}

// onCustomerUpdated: the customer's profile arrived after the conversation did
// (it is fetched beside routing): the stand-in name gives way to the real one.
function onCustomerUpdated(d) {
  const id = d.conversation_id;
  const c = state.convs.get(id);
  if (!c || !d.customer) return;
  c.customer = Object.assign({}, c.customer || {}, d.customer);
  if (state.selected === id) loadConversation(id);
  renderList();
}

function onClosed(d) {
  const id = d.conversation_id;
  const c = state.convs.get(id);
  if (c) {
    c.status = "closed";
    c.closed_at = c.closed_at || new Date().toISOString();
    if (d.reason) c.close_reason = d.reason;
  }
  if (state.selected === id) loadConversation(id);
  renderList();
}

// eventTime is a message's time, or now when the event carries none.
function eventTime(s) {
  const d = s ? new Date(s) : null;
  return d && !isNaN(d) && d.getFullYear() > 2000 ? d.toISOString() : new Date().toISOString();
}

function onReceived(d) {
  const id = d.conversation_id;
  const m = d.message;
  if (!id || !m) return;
  m.created_at = eventTime(m.created_at);
  const seen = countedSet(id);
  if (seen.has(m.id)) return; // replayed (reconnect or reassignment)
  seen.add(m.id);
  const inbound = m.direction === "inbound";
  const gist = m.text || (m.reason === "attachment_refused" ? "📎 Attachment refused" : "📎 " + (((m.attachments || [])[0] || {}).type || m.kind || "attachment"));
  state.activity[id] = { at: m.created_at, text: (inbound ? "" : senderLabel(m) + ": ") + gist };
  if (!state.convs.has(id)) loadList();
  const viewing = state.selected === id && state.current && state.current.id === id;
  // The list row: its preview, and the customer's wait starts with its first unanswered message.
  const row = state.convs.get(id);
  if (row && m.direction !== "internal") {
    row.last_message = { text: gist, kind: m.kind, sender: m.sender, agent_id: m.agent_id, created_at: m.created_at };
    if (inbound && m.sender === "customer" && !row.waiting_since) row.waiting_since = m.created_at;
  }
  // Seen as it arrives: read the conversation again, which marks it read (and
  // tells the customer, mark_seen).
  if (viewing && inbound && m.sender === "customer" && document.visibilityState === "visible") rereadSoon(id);
  if (viewing) {
    if (!state.current.messages.some((x) => x.id === m.id)) {
      state.current.messages.push(m);
      state.current.messages.sort((a, b) => new Date(a.created_at) - new Date(b.created_at));
    }
    if (inbound && m.sender === "customer") {
      // The customer wrote: the window restarts from this message.
      const at = new Date(m.created_at).getTime();
      const w = Object.assign({}, state.current.window);
      const later = (cur, ms) => (!cur || new Date(cur).getTime() < at + ms ? new Date(at + ms).toISOString() : cur);
      w.expires_at = later(w.expires_at, 24 * 3600 * 1000);
      if (w.human_agent_until) w.human_agent_until = later(w.human_agent_until, 7 * 24 * 3600 * 1000);
      state.current.window = w;
    }
    renderMessages();
    renderWindow();
    renderCustomer();
    scrollToEnd(false);
  }
  if (!viewing || document.visibilityState !== "visible") {
    if (inbound) state.unread[id] = (state.unread[id] || 0) + 1;
    saveUnread();
  }
  renderList();
}

let rereadTimer = null;

// rereadSoon reads the open conversation again once a burst of messages is over.
function rereadSoon(id) {
  clearTimeout(rereadTimer);
  rereadTimer = setTimeout(() => {
    if (state.selected === id) loadConversation(id);
  }, 700);
}

function onStatus(d) {
  const id = d.message_id;
  if (!id) return;
  noteStatus(id, d);
  if (state.current && state.current.id === d.conversation_id) {
    const m = state.current.messages.find((x) => x.id === id);
    if (m) {
      applyStatus(m);
      renderMessages();
      scrollToEnd(false);
    } else if (state.current.messages.some((x) => x.pending && x.unknown)) {
      // Likely the reply whose outcome was unknown: read it to match it.
      loadConversation(d.conversation_id);
    }
  }
}
