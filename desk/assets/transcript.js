// The selected conversation: its header and banners (transfer note, bot
// handoff), the transcript with message statuses (attachments, automated and
// bot messages, refused files, replies of unknown outcome), the 24-hour
// window, the customer panel, and close and reopen.

import { showStateActions, conversationAction } from "./states.js";
import { h, clear, $, APIError, fmtTime, fmtDateTime, fmtDay, fmtDuration, avatar, statusPill, safeURL } from "./common.js";
import { OPEN, state, countedSet, applyStatus, noteStatus, agentName } from "./state.js";
import { api } from "./session.js";
import { renderList } from "./list.js";
import { renderAttach, updateCharCount, matchUnknown, showSendError } from "./composer.js";
import { loadTargets } from "./transfer.js";
import { toast } from "./alerts.js";
import { render as renderContacts } from "./contacts.js";
import { reactionsNode } from "./reactions.js";
import { consulting, renderConsults } from "./consult.js";

let loadSeq = 0; // the latest read of a conversation: older answers are dropped

const REPLY_PLACEHOLDER = "Write a reply… (Enter to send, Shift+Enter for a new line, / for quick replies)";

// loadConversation reads the conversation and shows it, if it is still the selected one.
export async function loadConversation(id) {
  const seq = ++loadSeq;
  let conv;
  try {
    conv = await api("GET", "/api/v1/conversations/" + encodeURIComponent(id));
  } catch (e) {
    if (seq !== loadSeq) return;
    if (e instanceof APIError && e.status === 404 && state.transferred[id]) {
      return; // expected: it is someone else's now, and the pane says so
    }
    if (e instanceof APIError && e.status === 404) {
      state.convs.delete(id);
      state.selected = null;
      state.current = null;
      renderList();
      renderConversation();
      toast("That conversation is no longer yours.", "info");
    } else if (!(e instanceof APIError && e.status === 401)) {
      toast("Could not load the conversation: " + e.message, "error");
    }
    return;
  }
  if (seq !== loadSeq || state.selected !== id) return;
  conv.messages = conv.messages || [];
  if (!state.current || state.current.id !== id || state.current.status !== conv.status) showSendError("");
  // Keep this desk's replies (m.before: see deliver) that the answer does not
  // hold yet: a read made before the reply was stored lacks it, even when it
  // is answered after the send. A reply whose outcome was unknown is the row
  // the answer now holds: that row replaces it. A reply still on its way whose
  // row the answer holds already stays instead of that row (one bubble, not
  // two): the send's answer settles it, with the row's id.
  if (state.current && state.current.id === id) {
    for (const m of state.current.messages) {
      if (!(m.pending || m.before) || conv.messages.some((x) => x.id === m.id)) continue;
      const row = m.pending ? matchUnknown(conv.messages, m) : null;
      if (row && m.unknown) {
        state.unknownIDs.add(row.id);
        continue;
      }
      if (row) {
        noteStatus(row.id, row);
        conv.messages[conv.messages.indexOf(row)] = m;
      } else conv.messages.push(m);
    }
  }
  for (const m of conv.messages) {
    if (state.unknownIDs.has(m.id)) m.unknown = true;
    applyStatus(m);
    countedSet(id).add(m.id);
  }
  state.current = conv;
  const listed = state.convs.get(id);
  state.convs.set(id, Object.assign({}, listed || {}, conv, { messages: undefined }));
  renderList();
  renderConversation();
  scrollToEnd(true);
  // Learn the names of agents and queues now, while the conversation is ours:
  // a transfer made elsewhere (the API, another tab) then reads "Transferred
  // to Bart", and afterwards the conversation is no longer ours to ask about.
  if (conv.status === "assigned" && !state.targetsFetched.has(id)) loadTargets(id).catch(() => {});
}

export function renderConversation() {
  const conv = state.current;
  $("#no-selection").hidden = !!conv;
  $("#conv-view").hidden = !conv;
  $("#customer-empty").hidden = !!conv;
  $("#customer").hidden = !conv;
  if (!conv) return;

  clear($("#conv-avatar")).appendChild(avatar(conv.customer.name, conv.customer.profile_pic, "medium"));
  $("#conv-name").textContent = conv.customer.name;
  clear($("#conv-status")).appendChild(statusPill(conv.status));
  $("#conv-sub").textContent = conv.status === "closed" ? "Closed " + fmtDateTime(conv.closed_at) : "Opened " + fmtDateTime(conv.opened_at);
  const away = state.transferred[conv.id];
  // A consultant reads and writes notes; everything else is the agent's.
  const guest = consulting(conv);
  const isOpen = conv.status === "assigned" && !away && !guest;
  $("#close-conv").hidden = conv.status === "closed" || !!away || guest;
  $("#reopen-conv").hidden = conv.status !== "closed" || !!away || guest;
  $("#transfer-conv").hidden = !isOpen;
  showStateActions(conv, away);
  $("#action-error").hidden = true;
  const notice = $("#transferred-away");
  notice.hidden = !away;
  notice.textContent = away ? "Transferred to " + away.to + ". This conversation is no longer yours: you can read it, but not reply." : "";
  renderTransferNote();
  renderMonitored();
  renderBotHandoff();
  renderConsults();
  // Linking a contact needs the conversation to be ours.
  $("#cust-contact").inert = !!away;

  renderMessages();
  renderWindow();
  renderCustomer();
  $("#reply").disabled = guest ? conv.status === "closed" : !isOpen || !windowState(conv).canSend;
  $("#reply").placeholder = guest ? "Write a note for the conversation's agent… (Add as note)" : REPLY_PLACEHOLDER;
}

// renderTransferNote shows the receiving agent why the conversation came: the
// note and who sent it (both from the conversation API, so they survive a reload).
export function renderTransferNote() {
  const conv = state.current;
  const box = clear($("#transfer-note"));
  // The conversation API names who transferred it, so it survives a reload.
  const ref = conv.transferred_by;
  const by = state.transferredBy[conv.id] || (ref && ref.id);
  const note = conv.transfer_note || "";
  box.hidden = !!state.transferred[conv.id] || (!note && !by);
  if (box.hidden) return;
  const from = by ? " from " + (ref && ref.id === by && ref.name ? ref.name : agentName(by)) : "";
  box.appendChild(h("b", {}, note ? "Transfer note" + from + ": " : "Transferred to you" + from + "."));
  if (note) box.appendChild(document.createTextNode(note));
}

// renderMonitored says which supervisor is watching the open conversation
// (conversation.monitored, live; forgotten on reload).
export function renderMonitored() {
  const conv = state.current;
  const box = $("#monitored-note");
  if (!box || !conv) return;
  const by = state.monitoredBy[conv.id];
  box.hidden = !by;
  box.textContent = by ? by + " (supervisor) is monitoring this conversation." : "";
}

// renderBotHandoff shows, at the top of a conversation the workstream's bot
// handed over, why it did and its summary of what the customer wanted.
function renderBotHandoff() {
  const conv = state.current;
  const reason = conv.bot_handoff_reason || "";
  const summary = conv.bot_summary || "";
  $("#bot-handoff").hidden = !reason && !summary;
  $("#bot-handoff-reason").textContent = reason ? "Bot handed over: " + reason : "Bot handed over";
  const s = $("#bot-handoff-summary");
  s.textContent = summary ? "Summary: " + summary : "";
  s.hidden = !summary;
}

export function renderMessages() {
  const box = clear($("#messages"));
  const conv = state.current;
  if (conv.messages.length === 0) {
    box.appendChild(h("div", { class: "day-sep" }, h("span", {}, "No messages yet")));
    return;
  }
  let lastDay = null;
  let prev = null;
  for (const m of conv.messages) {
    const day = fmtDay(m.created_at);
    if (day !== lastDay) {
      box.appendChild(h("div", { class: "day-sep" }, h("span", {}, day)));
      lastDay = day;
      prev = null;
    }
    box.appendChild(messageNode(m, prev));
    prev = m;
  }
}

export function senderLabel(m) {
  switch (m.sender) {
    case "agent":
      return m.agent_id && state.me && m.agent_id === state.me.id ? "You" : "Agent";
    case "bot":
      return "Bot";
    case "page":
      return "Page";
    case "supervisor":
      return "Supervisor";
    case "system":
      return "Automated";
    default:
      return state.current ? state.current.customer.name : "Customer";
  }
}

function statusLabel(s) {
  return { sending: "Sending…", queued: "Queued", sent: "Sent", delivered: "Delivered", read: "Read", failed: "Not delivered", received: "" }[s] || s;
}

// outcomeUnknown: the send answered 503 outcome_unknown and no final status
// has arrived yet. Not a failure: the reply may well have gone out.
function outcomeUnknown(m) {
  return !!m.unknown && m.status === "sending";
}

// attachmentNode shows a file: an image as a thumbnail (a link to the file),
// anything else as a link. Audio and video are not played in the page.
function attachmentNode(a) {
  const type = a.type || "attachment";
  const url = safeURL(a.url);
  const icon = { image: "🖼", audio: "🎵", video: "🎬", file: "📄" }[type] || "📎";
  if (!url) return h("span", { class: "attachment", dataset: { type } }, icon + " " + type);
  const link = h("a", { class: "attachment", href: url, target: "_blank", rel: "noopener noreferrer", title: url, dataset: { type } });
  if (type === "image") {
    link.classList.add("attachment-image");
    const img = h("img", { src: url, alt: "Image", loading: "lazy", referrerpolicy: "no-referrer" });
    img.addEventListener("error", () => img.replaceWith(document.createTextNode(icon + " image (no preview)")));
    link.appendChild(img);
  } else {
    let name = "";
    try {
      name = decodeURIComponent(new URL(url).pathname.split("/").pop() || "");
    } catch {
      name = "";
    }
    link.textContent = icon + " " + type + (name ? ": " + name : "");
  }
  return link;
}

// noteAdded shows a note.added event's note in the open conversation (a note
// from another tab, or later a consultant's), once.
export function noteAdded(d) {
  const conv = state.current;
  if (!conv || conv.id !== d.conversation_id || !d.message) return;
  if (conv.messages.some((m) => m.id === d.message.id)) return;
  conv.messages.push(d.message);
  renderMessages();
  scrollToEnd();
}

// noteNode: an internal note (kind "note", direction "internal") has its own
// look: never a chat bubble, since the customer never sees it.
function noteNode(m) {
  return h(
    "div",
    { class: "msg note", dataset: { id: m.id, sender: m.sender || "", kind: "note" } },
    h(
      "div",
      { class: "note-body" },
      h("span", { class: "note-label" }, "Internal note · " + senderLabel(m) + " · " + fmtTime(m.created_at)),
      h("span", { class: "text" }, m.text || "")
    )
  );
}

function messageNode(m, prev) {
  if (m.kind === "note" || m.direction === "internal") return noteNode(m);
  const out = m.direction === "outbound";
  // The service's automated messages and the bot's: the customer got them,
  // but no person wrote them.
  const auto = m.sender === "system" || m.sender === "bot";
  const grouped = prev && prev.direction === m.direction && prev.sender === m.sender && new Date(m.created_at) - new Date(prev.created_at) < 5 * 60000;
  const body = [];
  if (auto) body.push(h("span", { class: "auto-label" }, m.sender === "bot" ? "Bot" : "Automated"));
  const refused = m.reason === "attachment_refused" && !out;
  if (m.kind && m.kind !== "text" && !(m.kind === "attachment" && ((m.attachments || []).length || refused)))
    body.push(h("span", { class: "kind" }, m.kind.replace(/_/g, " ")));
  if (m.erased_at) body.push(h("span", { class: "text muted erased" }, "🗑 Deleted: the customer's data was erased"));
  if (m.text) body.push(h("span", { class: "text" }, m.text));
  for (const a of m.attachments || []) body.push(attachmentNode(a));
  if (refused) body.push(h("span", { class: "refused" }, "📎 Attachment refused: " + (m.error || "this workstream does not accept customer attachments.")));
  if (body.length === (auto ? 1 : 0)) body.push(h("span", { class: "text muted" }, "(" + (m.kind || "empty") + ")"));

  const unknown = outcomeUnknown(m);
  const meta = [h("span", {}, (out ? senderLabel(m) + " · " : "") + fmtTime(m.created_at))];
  if (out) {
    meta.push(
      unknown
        ? h("span", { class: "msg-status status-unknown", dataset: { status: "unknown" } }, "◷ Sending — outcome not known yet")
        : h("span", { class: "msg-status status-" + m.status, dataset: { status: m.status } }, statusIcon(m.status), statusLabel(m.status))
    );
  }
  const children = [h("div", { class: "bubble" }, body), reactionsNode(state.current, m)];
  if (m.status === "failed") {
    children.push(h("div", { class: "msg-error", role: "alert" }, m.error || "Facebook did not accept this message."));
  }
  if (unknown) {
    children.push(h("div", { class: "msg-note" }, "The reply was accepted; whether Facebook delivered it is not known yet. Its status updates here — no need to send it again."));
  }
  children.push(h("div", { class: "msg-meta" }, meta));
  return h(
    "div",
    {
      class: "msg " + (out ? "out" : "in") + (auto ? " auto" : "") + (grouped ? " grouped" : "") + (m.status === "failed" ? " failed" : "") + (refused ? " refused" : ""),
      dataset: { id: m.id, sender: m.sender || "" },
    },
    out ? null : grouped ? h("span", { class: "avatar-spacer" }) : avatar(state.current.customer.name, state.current.customer.profile_pic, "small"),
    h("div", { class: "msg-col" }, children)
  );
}

function statusIcon(s) {
  const icons = { sending: "◷ ", queued: "◷ ", sent: "✓ ", delivered: "✓✓ ", read: "✓✓ ", failed: "⚠ " };
  return icons[s] || "";
}

export function scrollToEnd(force) {
  const box = $("#messages");
  const nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
  if (force || nearEnd) box.scrollTop = box.scrollHeight;
}

// windowState says whether the agent can reply now, and why not: Messenger's
// 24-hour window, then HUMAN_AGENT's seven days.
export function windowState(conv) {
  const now = Date.now();
  const w = conv.window || {};
  const expires = w.expires_at ? new Date(w.expires_at) : null;
  const human = w.human_agent_until ? new Date(w.human_agent_until) : null;
  const away = state.transferred[conv.id];
  if (away) return { canSend: false, kind: "closed", text: "Transferred to " + away.to + " — you can no longer reply." };
  if (consulting(conv) && conv.status !== "closed") return { canSend: false, kind: "consult", text: "You are consulting: add notes; the conversation's agent replies." };
  if (conv.status === "closed") return { canSend: false, kind: "closed", text: "This conversation is closed. Reopen it to reply." };
  if (conv.status !== "assigned") return { canSend: false, kind: "closed", text: "This conversation is " + conv.status + "; it is not assigned to you yet." };
  if (expires && expires > now) {
    return { canSend: true, kind: "open", text: fmtDuration(expires - now) + " left in the 24-hour window", detail: "Closes " + fmtDateTime(expires) };
  }
  if (human && human > now) {
    return {
      canSend: true,
      kind: "human",
      text: "HUMAN_AGENT until " + fmtDateTime(human),
      detail: "The 24-hour window closed " + fmtDateTime(expires) + "; replies are sent with the HUMAN_AGENT tag.",
    };
  }
  if (expires) {
    return { canSend: false, kind: "expired", text: "The 24-hour window closed at " + fmtDateTime(expires) + " — the customer must write first" };
  }
  return { canSend: false, kind: "expired", text: "The customer has not written yet — the customer must write first" };
}

export function renderWindow() {
  const conv = state.current;
  if (!conv) return;
  const ws = windowState(conv);
  const el = clear($("#window-state"));
  el.className = "window-state ws-" + ws.kind;
  el.appendChild(h("span", { class: "ws-dot" }));
  el.appendChild(h("span", { class: "ws-text" }, ws.text));
  if (ws.detail) el.appendChild(h("span", { class: "ws-detail muted" }, " · " + ws.detail));
  const reply = $("#reply");
  reply.disabled = !ws.canSend && ws.kind !== "consult";
  $("#send").disabled = !ws.canSend || state.sending || reply.value.trim() === "";
  updateCharCount();
  renderAttach(ws);
  const card = clear($("#cust-window"));
  card.className = "window-card ws-" + ws.kind;
  card.appendChild(h("div", { class: "ws-text" }, ws.text));
  if (ws.detail) card.appendChild(h("div", { class: "muted small-text" }, ws.detail));
}

export function renderCustomer() {
  const conv = state.current;
  clear($("#cust-avatar")).appendChild(avatar(conv.customer.name, conv.customer.profile_pic, "large"));
  $("#cust-name").textContent = conv.customer.name;
  const dl = clear($("#cust-details"));
  const row = (k, v, mono) => (v ? [h("dt", {}, k), h("dd", { class: mono ? "mono" : "" }, v)] : []);
  for (const n of [...row("PSID", conv.customer.psid, true), ...row("Locale", conv.customer.locale), ...row("Facebook page", conv.page_id, true)]) dl.appendChild(n);
  const cd = clear($("#conv-details"));
  const msgs = conv.messages || [];
  const inbound = msgs.filter((m) => m.direction === "inbound").length;
  for (const n of [
    ...row("Status", conv.status.replace(/_/g, " ")),
    ...row("Opened", fmtDateTime(conv.opened_at)),
    ...row("Closed", conv.closed_at ? fmtDateTime(conv.closed_at) : ""),
    ...row("Close reason", conv.close_reason ? conv.close_reason.replace(/_/g, " ") : ""),
    ...row("Messages", msgs.length ? msgs.length + " (" + inbound + " from the customer)" : "none"),
    ...row("ID", conv.id, true),
  ])
    cd.appendChild(n);
  // Contact, earlier conversations and privacy notice.
  renderContacts(conv, { api, reload: () => loadConversation(conv.id) });
}

// Close and reopen.

function closeOrReopen(action) {
  const btn = action === "close" ? $("#close-conv") : $("#reopen-conv");
  return conversationAction(action, btn, (out) =>
    action === "close" ? "Conversation closed." : out.status === "reopening" ? "Reopening…" : "Conversation reopened.",
  );
}

export function bindTranscript() {
  $("#close-conv").addEventListener("click", () => closeOrReopen("close"));
  $("#reopen-conv").addEventListener("click", () => closeOrReopen("reopen"));
  // The window's countdown moves on.
  setInterval(() => {
    if (state.current) renderWindow();
  }, 30000);
}
