// Quick replies: typing "/" at the start of the reply box opens a menu of the
// agent's personal replies and the account's library, searched by title or tag
// ("/ord" finds a reply tagged "order"), the conversation's locale first. The
// server fills the slugs ({customer.first_name}, {agent.name}, …) for the open
// conversation; picking one puts that text in the box, to edit before sending.

import { $, h, clear } from "./common.js";
import { state } from "./state.js";
import { api } from "./session.js";

let items = []; // the menu's replies
let active = 0; // the highlighted one
let seq = 0; // the latest search; older answers are dropped

// slashQuery is the search of a reply box holding "/word", or null.
export function slashQuery(value) {
  const m = /^\/(\S*)$/.exec(value);
  return m ? m[1] : null;
}

export function menuOpen() {
  return !$("#qr-menu").hidden;
}

export function closeMenu() {
  const menu = $("#qr-menu");
  menu.hidden = true;
  clear(menu);
  items = [];
  $("#reply").removeAttribute("aria-activedescendant");
}

// searchQuickReplies shows the replies matching q for the open conversation.
export async function searchQuickReplies(q) {
  const conv = state.current;
  if (!conv) return;
  const mine = ++seq;
  let list = [];
  try {
    list = await api("GET", "/api/v1/quick-replies?q=" + encodeURIComponent(q) + "&conversation_id=" + encodeURIComponent(conv.id));
  } catch {
    list = [];
  }
  // A newer keystroke, another conversation, or the slash was deleted.
  if (mine !== seq || state.current !== conv || slashQuery($("#reply").value) === null) return;
  items = list || [];
  active = 0;
  render();
}

function render() {
  const menu = clear($("#qr-menu"));
  menu.hidden = false;
  if (items.length === 0) {
    menu.appendChild(h("li", { class: "qr-empty", role: "option", "aria-disabled": "true" }, "No quick reply matches"));
    return;
  }
  items.forEach((r, i) => {
    const meta = [r.scope === "personal" ? "Personal" : "Library"];
    if (r.locale) meta.push(r.locale);
    if ((r.tags || []).length) meta.push(r.tags.map((t) => "#" + t).join(" "));
    const li = h(
      "li",
      { id: "qr-" + i, role: "option", "aria-selected": String(i === active), dataset: { id: r.id } },
      h("span", { class: "qr-title" }, r.title),
      h("span", { class: "qr-meta" }, meta.join(" · "))
    );
    // mousedown, not click: the reply box keeps its focus.
    li.addEventListener("mousedown", (e) => {
      e.preventDefault();
      pick(i);
    });
    menu.appendChild(li);
  });
  $("#reply").setAttribute("aria-activedescendant", "qr-" + active);
}

// pick fills the reply box with a reply's filled text.
function pick(i) {
  const r = items[i];
  if (!r) return;
  const reply = $("#reply");
  reply.value = r.filled_text !== undefined ? r.filled_text : r.text;
  closeMenu();
  reply.focus();
  reply.setSelectionRange(reply.value.length, reply.value.length);
  reply.dispatchEvent(new Event("input"));
}

// menuKey handles a key while the menu is open; true when it used the key.
export function menuKey(e) {
  if (!menuOpen()) return false;
  switch (e.key) {
    case "ArrowDown":
    case "ArrowUp":
      if (items.length) {
        active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
        render();
      }
      e.preventDefault();
      return true;
    case "Enter":
    case "Tab":
      if (e.shiftKey || e.isComposing || !items.length) return false;
      e.preventDefault();
      pick(active);
      return true;
    case "Escape":
      e.preventDefault();
      closeMenu();
      return true;
  }
  return false;
}
