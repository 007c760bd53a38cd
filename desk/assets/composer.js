// The reply box: text replies (Enter sends, Shift+Enter breaks the line),
// files by URL when the workstream allows them, each with an optimistic bubble
// that the answer settles (sent, failed, or outcome not known yet).

import { $, APIError } from "./common.js";
import { state, countedSet, applyStatus, noteStatus } from "./state.js";
import { api } from "./session.js";
import { renderList } from "./list.js";
import { loadConversation, renderMessages, scrollToEnd, windowState, renderWindow } from "./transcript.js";
import { slashQuery, searchQuickReplies, menuKey, closeMenu } from "./quickreplies.js";
import { consulting } from "./consult.js";

// renderAttach: the attachment control follows the workstream's policy
// (agent_attachments) and the window; off, it says why instead.
export function renderAttach(ws) {
  const conv = state.current;
  const allowed = !!conv.agent_attachments;
  const usable = allowed && ws.canSend;
  const toggle = $("#attach-toggle");
  toggle.disabled = !usable;
  toggle.title = allowed ? "Send a file by its URL, as its own message" : "Attachments are turned off for this workstream";
  $("#attach-off").hidden = allowed || !ws.canSend;
  const row = $("#attach-row");
  if (!usable) row.hidden = true;
  toggle.setAttribute("aria-expanded", String(!row.hidden));
  $("#attach-send").disabled = !usable || state.sending;
}

export function toggleAttach(show) {
  const row = $("#attach-row");
  row.hidden = show === undefined ? !row.hidden : !show;
  $("#attach-toggle").setAttribute("aria-expanded", String(!row.hidden));
  if (!row.hidden) $("#attach-url").focus();
}

export function updateCharCount() {
  const n = [...$("#reply").value].length;
  const el = $("#char-count");
  el.textContent = n > 0 ? n + " / 1999" : "";
  el.classList.toggle("over", n > 1999);
}

// send posts the reply box's text.
async function send(ev) {
  if (ev) ev.preventDefault();
  const conv = state.current;
  const reply = $("#reply");
  const text = reply.value.trim();
  if (!conv || !text || state.sending || !windowState(conv).canSend) return;
  if ([...text].length > 1999) {
    showSendError("Messenger accepts under 2000 characters; shorten the reply.");
    return;
  }
  reply.value = "";
  updateCharCount();
  stopTyping();
  await deliver(conv, { text }, { kind: "text", text, attachments: [] }, "You: " + text, () => {
    if (!reply.value) reply.value = text;
  });
  if (shown(conv.id)) $("#reply").focus();
}

// shown is the conversation on screen if it is convID. Not the object a send
// started from: a read of the conversation meanwhile (the customer wrote, say)
// replaces it, carrying the reply's bubble over (loadConversation).
function shown(convID) {
  return state.current && state.current.id === convID ? state.current : null;
}

// sendAttachment sends one file by URL, as its own message (a Messenger
// message carries text or one attachment).
async function sendAttachment() {
  const conv = state.current;
  if (!conv || state.sending || !windowState(conv).canSend) return;
  const input = $("#attach-url");
  const type = $("#attach-type").value;
  const url = input.value.trim();
  if (!conv.agent_attachments) {
    showSendError("Attachments are turned off for this workstream.");
    return;
  }
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol) || !parsed.host) {
    showSendError(url ? "The file's address must be a full http(s) URL that Facebook can fetch." : "Paste the file's address (https://…).");
    input.focus();
    return;
  }
  const attachment = { type, url };
  input.value = "";
  toggleAttach(false);
  await deliver(conv, { attachments: [attachment] }, { kind: "attachment", text: "", attachments: [attachment] }, "You: 📎 " + type, () => {
    if (!input.value) input.value = url;
    $("#attach-type").value = type;
    toggleAttach(true);
  });
}

// deliver posts a reply (text or one attachment) with an optimistic bubble.
// restore gives the agent's input back when nothing was stored.
async function deliver(conv, body, fields, preview, restore) {
  state.sending = true;
  $("#send").disabled = true;
  $("#attach-send").disabled = true;
  showSendError("");
  const temp = Object.assign(
    {
      id: "tmp-" + Math.random().toString(36).slice(2),
      pending: true,
      direction: "outbound",
      sender: "agent",
      status: "sending",
      error: "",
      agent_id: state.me.id,
      created_at: new Date().toISOString(),
      // What existed before: the stored row of this reply is none of these.
      before: new Set(conv.messages.map((m) => m.id)),
    },
    fields
  );
  conv.messages.push(temp);
  renderMessages();
  scrollToEnd(true);
  const convID = conv.id;
  try {
    const out = await api("POST", "/api/v1/conversations/" + encodeURIComponent(convID) + "/messages", body);
    Object.assign(temp, {
      id: out.id || temp.id,
      pending: false,
      status: out.status || "sent",
      error: out.error || "",
      reason: out.reason || "",
      facebook_message_id: out.facebook_message_id || null,
    });
    // Remembered by id, so that a read made before the send (its row still
    // "sending") does not take the reply back to "Sending…".
    noteStatus(temp.id, temp);
    applyStatus(temp);
    countedSet(convID).add(temp.id);
    if (temp.status === "failed") showSendError("Not delivered: " + (temp.error || "Facebook refused the message."));
  } catch (e) {
    if (e instanceof APIError && e.code === "outcome_unknown") {
      // The reply is stored and its send may still happen: keep the bubble,
      // say so, and find its row so that message.status can update it. The
      // input stays empty: sending it again could reach the customer twice.
      temp.unknown = true;
      followUnknown(convID, temp, 0);
    } else {
      // Nothing was stored: take the bubble back (from the conversation shown
      // too, if it was read again meanwhile) and give the input back.
      for (const c of [conv, shown(convID)]) {
        const i = c ? c.messages.indexOf(temp) : -1;
        if (i >= 0) c.messages.splice(i, 1);
      }
      restore();
      showSendError(e.message);
      // A stale view (closed meanwhile, attachments turned off): read it again.
      if (e.code === "conversation_not_open" || e.code === "attachments_disabled") loadConversation(convID);
    }
  } finally {
    state.sending = false;
    const row = state.convs.get(convID);
    if (row && !temp.pending && temp.status !== "failed") {
      // Answered: the customer no longer waits, and what it wrote has been read.
      row.waiting_since = null;
      row.unread_count = 0;
      row.last_message = { text: temp.text || preview, kind: temp.kind, sender: "agent", agent_id: state.me.id, created_at: temp.created_at };
    }
    if (shown(convID)) {
      state.activity[convID] = { at: temp.created_at, text: preview };
      renderMessages();
      renderWindow();
      renderList();
      scrollToEnd(true);
    }
  }
}

// matchUnknown finds the stored row of a reply whose outcome was unknown: the
// agent's outbound message, new since the send, with the same content.
export function matchUnknown(list, temp) {
  const url = (a) => ((a || [])[0] || {}).url || "";
  return list.find(
    (x) =>
      x.direction === "outbound" &&
      x.sender === "agent" &&
      x.agent_id === temp.agent_id &&
      !(temp.before && temp.before.has(x.id)) &&
      (x.text || "") === (temp.text || "") &&
      url(x.attachments) === url(temp.attachments)
  );
}

// followUnknown reads the conversation again until the reply's row is found
// (then its status comes from the row and from message.status events).
function followUnknown(convID, temp, attempt) {
  if (attempt > 5) return;
  setTimeout(
    async () => {
      if (!state.current || state.current.id !== convID || !state.current.messages.includes(temp)) return;
      await loadConversation(convID);
      if (state.current && state.current.id === convID && state.current.messages.includes(temp)) followUnknown(convID, temp, attempt + 1);
    },
    attempt === 0 ? 300 : 1000 * 2 ** attempt
  );
}

// addNote saves the reply box's text as an internal note: stored, shown in the
// transcript with its own look, never sent to the customer.
async function addNote() {
  const conv = state.current;
  const reply = $("#reply");
  const text = reply.value.trim();
  if (!conv || !text || state.sending) return;
  closeMenu();
  showSendError("");
  $("#add-note").disabled = true;
  try {
    const note = await api("POST", "/api/v1/conversations/" + encodeURIComponent(conv.id) + "/notes", { text });
    if (reply.value.trim() === text) reply.value = "";
    updateCharCount();
    // The note.added event may have brought it first.
    if (!conv.messages.some((m) => m.id === note.id)) conv.messages.push(note);
    if (state.current === conv) {
      renderMessages();
      scrollToEnd(true);
    }
  } catch (e) {
    showSendError(e.message);
  } finally {
    $("#add-note").disabled = false;
  }
}

// Typing: Messenger shows the customer "typing…" while the agent writes. The
// desk tells the server at most every TYPING_EVERY ms while keys are pressed,
// and stops after TYPING_IDLE ms without a key, when the box is emptied or the
// reply goes. The server adds Messenger's rules (one sender action a second per
// conversation, only inside the window) and drops what it may not send.
const TYPING_EVERY = 2000;
const TYPING_IDLE = 5000;
const typing = { conv: null, sentAt: 0, idle: null };

function typed() {
  const conv = state.current;
  if (!conv || consulting(conv) || !windowState(conv).canSend) return;
  if ($("#reply").value.trim() === "" || slashQuery($("#reply").value) !== null) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (typing.conv !== conv.id || now - typing.sentAt >= TYPING_EVERY) {
    if (typing.conv && typing.conv !== conv.id) postTyping(typing.conv, false);
    typing.conv = conv.id;
    typing.sentAt = now;
    postTyping(conv.id, true);
  }
  clearTimeout(typing.idle);
  typing.idle = setTimeout(stopTyping, TYPING_IDLE);
}

export function stopTyping() {
  clearTimeout(typing.idle);
  if (!typing.conv) return;
  const id = typing.conv;
  typing.conv = null;
  typing.sentAt = 0;
  postTyping(id, false);
}

function postTyping(id, on) {
  // Best-effort: a lost typing indicator is not worth the agent's attention.
  api("POST", "/api/v1/conversations/" + encodeURIComponent(id) + "/typing", { on }).catch(() => {});
}

export function showSendError(msg) {
  const el = $("#send-error");
  el.hidden = !msg;
  el.textContent = msg;
}

export function bindComposer() {
  $("#composer").addEventListener("submit", send);
  $("#attach-toggle").addEventListener("click", () => toggleAttach());
  $("#attach-cancel").addEventListener("click", () => {
    $("#attach-url").value = "";
    toggleAttach(false);
  });
  $("#attach-send").addEventListener("click", sendAttachment);
  $("#attach-url").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) {
      e.preventDefault();
      sendAttachment();
    }
    if (e.key === "Escape") toggleAttach(false);
  });
  const reply = $("#reply");
  $("#add-note").addEventListener("click", addNote);
  reply.addEventListener("keydown", (e) => {
    if (menuKey(e)) return;
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  reply.addEventListener("blur", () => closeMenu());
  reply.addEventListener("input", () => {
    // "/word" searches the quick replies; anything else closes their menu.
    const q = slashQuery(reply.value);
    if (q === null) closeMenu();
    else searchQuickReplies(q);
    updateCharCount();
    $("#send").disabled = state.sending || reply.value.trim() === "" || !state.current || !windowState(state.current).canSend;
    typed();
  });
}
