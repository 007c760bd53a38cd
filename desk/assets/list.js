// The list of the agent's conversations: open and closed tabs, the latest
// activity first, unread badges (also in the page title), and choosing one.

import { h, clear, $, APIError, fmtWhen, avatar, statusPill } from "./common.js";
import { OPEN, state, saveUnread } from "./state.js";
import { api } from "./session.js";
import { loadConversation } from "./transcript.js";
import { toggleAttach } from "./composer.js";
import { toast } from "./alerts.js";

export async function loadList() {
  let list;
  try {
    list = await api("GET", "/api/v1/me/conversations");
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) toast("Could not load conversations: " + e.message, "error");
    return;
  }
  state.convs.clear();
  // A list read before a transfer may still hold the conversation: the
  // transfer wins (if it comes back, conversation.assigned clears the mark).
  for (const c of list) if (!state.transferred[c.id]) state.convs.set(c.id, c);
  renderList();
  if (state.selected && state.convs.has(state.selected) && state.current) {
    const c = state.convs.get(state.selected);
    if (c.status !== state.current.status) loadConversation(state.selected);
  }
}

function lastActivity(c) {
  const a = state.activity[c.id];
  return a ? a.at : c.closed_at || c.opened_at;
}

function sortedConvs() {
  const want = state.filter === "open";
  return [...state.convs.values()]
    .filter((c) => OPEN.has(c.status) === want)
    .sort((a, b) => new Date(lastActivity(b)) - new Date(lastActivity(a)));
}

export function renderList() {
  const ul = clear($("#conv-list"));
  let open = 0;
  let closed = 0;
  for (const c of state.convs.values()) OPEN.has(c.status) ? open++ : closed++;
  $("#count-open").textContent = open;
  $("#count-closed").textContent = closed;
  for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t.dataset.filter === state.filter);

  const items = sortedConvs();
  for (const c of items) {
    const unread = state.unread[c.id] || 0;
    const act = state.activity[c.id];
    const preview = act ? act.text : c.status === "closed" ? "Closed " + fmtWhen(c.closed_at) : "Opened " + fmtWhen(c.opened_at);
    const li = h(
      "li",
      {
        class: "conv-item" + (c.id === state.selected ? " selected" : "") + (unread ? " unread" : ""),
        dataset: { id: c.id },
        tabindex: "0",
        role: "button",
        "aria-label": c.customer.name + (unread ? ", " + unread + " unread" : ""),
      },
      avatar(c.customer.name, c.customer.profile_pic, "medium"),
      h(
        "div",
        { class: "conv-main" },
        h("div", { class: "conv-line" }, h("span", { class: "conv-name" }, c.customer.name), h("span", { class: "conv-time" }, fmtWhen(lastActivity(c)))),
        h("div", { class: "conv-line" }, h("span", { class: "conv-preview" }, preview), unread ? h("span", { class: "badge", title: unread + " unread" }, String(unread)) : null),
        h("div", { class: "conv-line" }, statusPill(c.status)),
        // The note of a transfer is what the next agent reads first.
        c.transfer_note && OPEN.has(c.status)
          ? h("div", { class: "conv-line" }, h("span", { class: "conv-note", title: "Transfer note: " + c.transfer_note }, "↪ " + c.transfer_note))
          : null
      )
    );
    li.addEventListener("click", () => select(c.id));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        select(c.id);
      }
    });
    ul.appendChild(li);
  }
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
  // fetched after assignment.
  setInterval(() => {
    if (state.me) loadList();
  }, 60000);
}
