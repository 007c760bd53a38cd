// The list of the agent's conversations: open and closed tabs, the customer
// who has waited longest first, each row with the last message's preview, the
// unread count (also in the page title), the wait's colour and the state, and
// choosing one. The server computes preview, unread count and wait
// (last_message, unread_count, waiting_since), so a reload shows what the live
// events built.

import { h, $, APIError, fmtWhen, avatar, statusPill, renderKeyed } from "./common.js";
import { OPEN, state, saveUnread } from "./state.js";
import { api } from "./session.js";
import { loadConversation } from "./transcript.js";
import { toggleAttach, stopTyping } from "./composer.js";
import { toast } from "./alerts.js";

export async function loadList() {
  const read = ++state.listReads;
  let list;
  try {
    list = await api("GET", "/api/v1/me/conversations");
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) toast("Could not load conversations: " + e.message, "error");
    return;
  }
  // Answers can come back out of order: an older read never replaces a newer one.
  if (read < state.listApplied) return;
  state.listApplied = read;
  // A conversation assigned live after this read started may be missing from
  // it (the desk's first read races the stream it opens): keep it, or the
  // agent would never see it (its event is not sent again).
  const arrived = [...state.convs.values()].filter((c) => (state.arrivedAt.get(c.id) || 0) >= read);
  state.convs.clear();
  // A list read before a transfer may still hold the conversation: the
  // transfer wins (if it comes back, conversation.assigned clears the mark).
  for (const c of list) if (!state.transferred[c.id]) state.convs.set(c.id, c);
  for (const c of arrived) if (!state.convs.has(c.id) && !state.transferred[c.id]) state.convs.set(c.id, c);
  // The server's unread counts are the truth (they survive a reload and
  // other tabs); the one on screen is read by being open.
  state.unread = {};
  for (const c of state.convs.values()) if (c.unread_count > 0 && !viewingNow(c.id)) state.unread[c.id] = c.unread_count;
  saveUnread();
  renderList();
  if (state.selected && state.convs.has(state.selected) && state.current) {
    const c = state.convs.get(state.selected);
    if (c.status !== state.current.status) loadConversation(state.selected);
  }
}

function lastActivity(c) {
  const a = state.activity[c.id];
  return a ? a.at : (c.last_message && c.last_message.created_at) || c.closed_at || c.opened_at;
}

function viewingNow(id) {
  return state.selected === id && document.visibilityState === "visible";
}

// waitOf is how long the customer has waited for an answer (since its oldest
// unanswered message) and that wait's colour by the workstream's thresholds
// (wait_colours: amber_s, red_s): "ok", "amber" or "red"; null when nobody waits.
export function waitOf(c) {
  if (!c.waiting_since || !OPEN.has(c.status)) return null;
  const seconds = Math.max(0, (Date.now() - new Date(c.waiting_since).getTime()) / 1000);
  const t = c.wait_colours || { amber_s: 120, red_s: 300 };
  return { seconds, level: seconds >= t.red_s ? "red" : seconds >= t.amber_s ? "amber" : "ok" };
}

// clockIcon is the wait's icon: inline SVG, so it shows without an emoji font.
function clockIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    return n;
  };
  const svg = el("svg", { class: "icon", viewBox: "0 0 16 16", width: "11", height: "11", "aria-hidden": "true", focusable: "false" });
  svg.appendChild(el("circle", { cx: "8", cy: "8", r: "6.3", fill: "none", stroke: "currentColor", "stroke-width": "1.6" }));
  svg.appendChild(el("path", { d: "M8 4.6V8l2.4 1.6", fill: "none", stroke: "currentColor", "stroke-width": "1.6", "stroke-linecap": "round" }));
  return svg;
}

function fmtWait(s) {
  if (s < 60) return "<1m";
  if (s < 3600) return Math.floor(s / 60) + "m";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

// previewOf is the row's line: the last message (the agent's own marked "You:").
function previewOf(c) {
  const m = c.last_message;
  if (!m) return c.status === "closed" ? "Closed " + fmtWhen(c.closed_at) : "Opened " + fmtWhen(c.opened_at);
  const gist = m.text || "📎 " + (m.kind || "attachment").replace(/_/g, " ");
  const mine = m.sender === "agent" && state.me && m.agent_id === state.me.id;
  const who = mine ? "You: " : { agent: "Agent: ", bot: "Bot: ", system: "Automated: ", page: "Page: " }[m.sender] || "";
  return who + gist;
}

// sortedConvs: the longest wait first, then those nobody waits on, latest activity first.
function sortedConvs() {
  const want = state.filter === "open";
  const since = (c) => (waitOf(c) ? new Date(c.waiting_since).getTime() : Infinity);
  return [...state.convs.values()]
    .filter((c) => OPEN.has(c.status) === want)
    .sort((a, b) => since(a) - since(b) || new Date(lastActivity(b)) - new Date(lastActivity(a)));
}

export function renderList() {
  const ul = $("#conv-list");
  let open = 0;
  let closed = 0;
  for (const c of state.convs.values()) OPEN.has(c.status) ? open++ : closed++;
  $("#count-open").textContent = open;
  $("#count-closed").textContent = closed;
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.filter === state.filter);

  // The rows are updated in place (renderKeyed): the list redraws on every
  // event and every 10 s, and a row replaced mid-click loses the click.
  const items = sortedConvs();
  renderKeyed(ul, items, (c) => newItem(c.id), updateItem);
  const empty = $("#list-empty");
  empty.hidden = items.length > 0;
  empty.textContent =
    state.filter === "open"
      ? state.me && state.me.presence === "available"
        ? "No open conversations. New customers will appear here."
        : "No open conversations. Set yourself Available to receive customers."
      : "No closed conversations yet.";
  const total = Object.values(state.unread).reduce((a, b) => a + b, 0);
  const badge = $("#unread-total");
  badge.hidden = total === 0;
  badge.textContent = total;
  document.title = (total ? "(" + total + ") " : "") + "Agent desk · fbchannel";
}

// newItem is a conversation's empty row, listening for its choice: its
// avatar and the rest come from updateItem.
function newItem(id) {
  const li = h("li", { dataset: { id }, tabindex: "0", role: "button" }, h("span"), h("div", { class: "conv-main" }));
  li.addEventListener("click", () => select(id));
  li.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      select(id);
    }
  });
  return li;
}

// updateItem brings a row up to date with its conversation: the row's text,
// classes and badge change in place (morph), so the element under the
// pointer stays on the page.
function updateItem(li, c) {
  const unread = state.unread[c.id] || 0;
  const wait = waitOf(c);
  const consulting = state.me && c.agent_id && c.agent_id !== state.me.id;
  li.className = "conv-item" + (c.id === state.selected ? " selected" : "") + (unread ? " unread" : "");
  li.setAttribute("aria-label", c.customer.name + (unread ? ", " + unread + " unread" : ""));
  // The avatar swaps its initials for the picture once that loads: it is
  // rebuilt only when the name or picture changed, never morphed back.
  const face = JSON.stringify([c.customer.name, c.customer.profile_pic || ""]);
  if (li.dataset.face !== face) {
    li.firstElementChild.replaceWith(avatar(c.customer.name, c.customer.profile_pic, "medium"));
    li.dataset.face = face;
  }
  morph(
    li.lastElementChild,
    h(
      "div",
      { class: "conv-main" },
      h("div", { class: "conv-line" }, h("span", { class: "conv-name" }, c.customer.name), h("span", { class: "conv-time" }, fmtWhen(lastActivity(c)))),
      h("div", { class: "conv-line" }, h("span", { class: "conv-preview" }, previewOf(c)), unread ? h("span", { class: "badge", title: unread + " unread" }, String(unread)) : null),
      h(
        "div",
        { class: "conv-line" },
        statusPill(c.status),
        consulting ? h("span", { class: "pill pill-consult" }, "consulting") : null,
        h("span", { class: "spacer" }),
        wait
          ? h("span", { class: "wait wait-" + wait.level, dataset: { wait: wait.level }, title: "Waiting for an answer since " + fmtWhen(c.waiting_since) }, clockIcon(), fmtWait(wait.seconds))
          : null
      ),
      // The note of a transfer is what the next agent reads first.
      c.transfer_note && OPEN.has(c.status)
        ? h("div", { class: "conv-line" }, h("span", { class: "conv-note", title: "Transfer note: " + c.transfer_note }, "↪ " + c.transfer_note))
        : null
    )
  );
}

// morph makes el look like want (a detached element of the same tag): its
// attributes and text change in place, and a child is replaced only when its
// tag differs; what want has more is moved over, what el has more is removed.
// Only for plain markup: listeners on want's elements are not carried over.
function morph(el, want) {
  for (const a of [...el.attributes]) if (!want.hasAttribute(a.name)) el.removeAttribute(a.name);
  for (const a of want.attributes) if (el.getAttribute(a.name) !== a.value) el.setAttribute(a.name, a.value);
  const wanted = [...want.childNodes];
  wanted.forEach((w, i) => {
    const o = el.childNodes[i];
    if (!o) el.appendChild(w);
    else if (o.nodeType !== w.nodeType || o.nodeName !== w.nodeName || o.namespaceURI !== w.namespaceURI) o.replaceWith(w);
    else if (o.nodeType === Node.ELEMENT_NODE) morph(o, w);
    else if (o.nodeValue !== w.nodeValue) o.nodeValue = w.nodeValue;
  });
  while (el.childNodes.length > wanted.length) el.lastChild.remove();
}

function setFilter(f) {
  state.filter = f;
  renderList();
}

// select opens a conversation in the main pane.
export async function select(id) {
  if (state.selected !== id) {
    // A file address typed for one customer must not go to the next.
    $("#attach-url").value = "";
    toggleAttach(false);
    stopTyping();
  }
  state.selected = id;
  const c = state.convs.get(id);
  if (c) state.filter = OPEN.has(c.status) ? "open" : "closed";
  delete state.unread[id];
  for (const t of document.querySelectorAll(".toast[data-conversation]")) if (t.dataset.conversation === id) t.remove();
  saveUnread();
  renderList();
  await loadConversation(id);
  $("#reply").focus();
}

export function bindList() {
  for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => setFilter(t.dataset.filter));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && state.selected && state.unread[state.selected]) {
      delete state.unread[state.selected];
      saveUnread();
      renderList();
    }
  });
  // A periodic refresh moves relative times on and picks up profile names
  // fetched after assignment; the wait colours move on in between.
  setInterval(() => {
    if (state.me) loadList();
  }, 60000);
  setInterval(() => {
    if (state.me) renderList();
  }, 10000);
}
