// Reactions on messages: the customer's (from Messenger, live by
// message.reaction) and the page's (the agent's), shown under the bubble; the
// agent reacts to a customer message from a small picker, and taps its own
// reaction again to take it back.

import { h } from "./common.js";
import { state } from "./state.js";
import { api } from "./session.js";
import { renderMessages } from "./transcript.js";
import { toast } from "./alerts.js";

// REACTION_CHOICES are the picker's emoji: Messenger's usual set.
export const REACTION_CHOICES = ["👍", "❤️", "😆", "😮", "😢", "🙏"];

let pickerFor = null; // the message whose picker is open

// canReact: the agent may react to the customer's messages Messenger knows
// (they have a Facebook id) in its own open conversation.
export function canReact(conv, m) {
  return (
    m.direction === "inbound" &&
    m.sender === "customer" &&
    !!m.facebook_message_id &&
    conv.status !== "closed" &&
    !state.transferred[conv.id] &&
    !!state.me &&
    conv.agent_id === state.me.id
  );
}

// reactionsNode shows a message's reactions, and the picker when allowed; null
// when there is nothing to show.
export function reactionsNode(conv, m) {
  const list = m.reactions || [];
  const allowed = canReact(conv, m);
  if (list.length === 0 && !allowed) return null;
  const mine = (list.find((r) => r.by === "agent") || {}).emoji;
  const row = h(
    "div",
    { class: "reactions" },
    list.map((r) =>
      h(
        "span",
        {
          class: "reaction reaction-" + r.by,
          dataset: { by: r.by, emoji: r.emoji },
          title: (r.by === "customer" ? conv.customer.name : "You") + " reacted " + r.emoji,
        },
        r.emoji
      )
    )
  );
  if (!allowed) return row;
  const toggle = h("button", { type: "button", class: "react-toggle", title: "React to this message", "aria-expanded": String(pickerFor === m.id) }, "☺+");
  toggle.addEventListener("click", () => {
    pickerFor = pickerFor === m.id ? null : m.id;
    renderMessages();
  });
  row.appendChild(toggle);
  if (pickerFor === m.id) {
    const picker = h("span", { class: "react-picker", role: "menu" });
    for (const emoji of REACTION_CHOICES) {
      const b = h("button", { type: "button", class: "react-choice" + (emoji === mine ? " chosen" : ""), dataset: { emoji }, role: "menuitem", title: emoji === mine ? "Take back your reaction" : "React " + emoji }, emoji);
      b.addEventListener("click", () => react(conv, m, emoji === mine ? "" : emoji));
      picker.appendChild(b);
    }
    row.appendChild(picker);
  }
  return row;
}

// react sets (or, with emoji "", removes) the agent's reaction; Messenger gets
// it as a sender action, best-effort.
async function react(conv, m, emoji) {
  pickerFor = null;
  const path = "/api/v1/conversations/" + encodeURIComponent(conv.id) + "/messages/" + encodeURIComponent(m.id) + "/reaction";
  try {
    const out = emoji ? await api("POST", path, { emoji }) : await api("DELETE", path);
    m.reactions = out.reactions || [];
  } catch (e) {
    toast("Could not react: " + e.message, "error");
  }
  if (state.current === conv) renderMessages();
}

// reactionChanged applies a message.reaction event to the open conversation.
export function reactionChanged(d) {
  const conv = state.current;
  if (!conv || conv.id !== d.conversation_id) return;
  const m = conv.messages.find((x) => x.id === d.message_id);
  if (!m) return;
  m.reactions = d.reactions || [];
  renderMessages();
}
