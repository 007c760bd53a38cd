// The agent desk: sign-in, presence, my conversations (live over SSE), the
// transcript with message statuses (attachments, automated and bot messages,
// refused files, replies of unknown outcome), the reply box with the messaging
// window and attachments by URL,
// close and reopen, transfer (to an agent or a queue, with a note), and alerts
// for new and transferred assignments.
"use strict";

(() => {
  const { h, clear, $, request, APIError, fmtTime, fmtDateTime, fmtWhen, fmtDay, fmtDuration, avatar, statusPill } = FBC;

  const STATUS_RANK = { sending: 0, queued: 1, sent: 2, delivered: 3, read: 4 };
  const OPEN = new Set(["assigned", "waiting", "bot"]);

  const state = {
    me: null,
    convs: new Map(), // id -> conversation (no messages)
    filter: "open",
    selected: null, // conversation id
    current: null, // the selected conversation with messages
    unread: {}, // id -> count of message.received since last opened
    counted: new Map(), // id -> Set of message ids already counted or shown
    activity: {}, // id -> {at, text} last message seen live
    statuses: new Map(), // message id -> latest {status, error, reason} from events
    es: null,
    esRetry: 0,
    sending: false,
    loadSeq: 0,
    // Conversations this agent transferred away while the page was open: id ->
    // {to} ("Bart Simpson", "the Billing queue"). The one open in the main pane
    // stays there with a notice instead of vanishing under the agent's cursor.
    transferred: {},
    // Who transferred a conversation to this agent (from conversation.assigned);
    // the conversation API keeps only the note, not the sender.
    transferredBy: {},
    // Names of agents and queues from transfer-targets, so that events carrying
    // only ids (to_agent_id, to_queue_id, transferred_by) read as names.
    agentNames: new Map(),
    queueNames: new Map(),
    targetsFetched: new Set(), // conversation ids whose targets were fetched
    // Replies whose send answered 503 outcome_unknown: the row exists and its
    // status arrives later (message.status). Their ids, once matched, so the
    // bubble keeps saying "outcome not known yet" rather than a plain "Sending…".
    unknownIDs: new Set(),
  };

  // ---------- sign-in ----------

  async function boot() {
    bindUI();
    try {
      const { agent } = await request("GET", "/desk/session");
      await startDesk(agent);
    } catch (e) {
      showSignin(e instanceof APIError && e.status === 401 ? "" : e.message);
    }
  }

  function showSignin(message) {
    $("#boot").hidden = true;
    $("#app").hidden = true;
    $("#signin").hidden = false;
    const err = $("#signin-error");
    err.hidden = !message;
    err.textContent = message || "";
    $("#token").focus();
  }

  async function signIn(ev) {
    ev.preventDefault();
    unlockAudio(); // a user gesture: the only moment browsers let us prepare sound
    askNotificationPermission();
    const token = $("#token").value.trim();
    const err = $("#signin-error");
    if (!token) {
      err.hidden = false;
      err.textContent = "Enter your agent token.";
      return;
    }
    const btn = $("#signin-button");
    btn.disabled = true;
    btn.textContent = "Signing in…";
    try {
      const { agent } = await request("POST", "/desk/session", { token });
      $("#token").value = "";
      await startDesk(agent);
    } catch (e) {
      err.hidden = false;
      err.textContent = e.message;
    } finally {
      btn.disabled = false;
      btn.textContent = "Sign in";
    }
  }

  async function signOut() {
    try {
      await request("DELETE", "/desk/session");
    } catch {
      // The cookies go with the next sign-in anyway.
    }
    stopEvents();
    resetState();
    showSignin("You are signed out.");
  }

  function resetState() {
    state.me = null;
    state.convs.clear();
    state.selected = null;
    state.current = null;
    state.unread = {};
    state.counted.clear();
    state.activity = {};
    state.statuses.clear();
    state.transferred = {};
    state.transferredBy = {};
    state.agentNames.clear();
    state.queueNames.clear();
    state.targetsFetched.clear();
    state.unknownIDs.clear();
    closeTransferDialog();
    renderList();
    renderConversation();
  }

  // sessionEnded is what any 401 leads to.
  function sessionEnded() {
    stopEvents();
    resetState();
    showSignin("Your session has ended. Sign in again.");
  }

  async function startDesk(agent) {
    state.me = agent;
    loadUnread();
    $("#boot").hidden = true;
    $("#signin").hidden = true;
    $("#app").hidden = false;
    $("#me-name").textContent = agent.name;
    clear($("#me-avatar")).appendChild(avatar(agent.name, "", "small"));
    setPresenceUI(agent.presence || "offline");
    updateAlertsButton();
    startEvents();
    await loadList();
  }

  // ---------- API with session handling ----------

  async function api(method, path, body) {
    try {
      return await request(method, path, body);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) sessionEnded();
      throw e;
    }
  }

  // ---------- presence ----------

  function setPresenceUI(p) {
    $("#presence").value = p;
    $("#presence-dot").className = "dot " + p;
  }

  async function changePresence() {
    const sel = $("#presence");
    const want = sel.value;
    const before = state.me.presence;
    sel.disabled = true;
    try {
      await api("PUT", "/api/v1/me/presence", { status: want });
      state.me.presence = want;
      setPresenceUI(want);
      renderList();
    } catch (e) {
      setPresenceUI(before);
      toast("Presence not changed: " + e.message, "error");
    } finally {
      sel.disabled = false;
    }
  }

  // ---------- unread counts (persisted per agent in this browser) ----------

  function unreadKey() {
    return "fbc.desk.unread." + (state.me ? state.me.id : "");
  }

  function loadUnread() {
    try {
      state.unread = JSON.parse(localStorage.getItem(unreadKey()) || "{}") || {};
    } catch {
      state.unread = {};
    }
  }

  function saveUnread() {
    try {
      localStorage.setItem(unreadKey(), JSON.stringify(state.unread));
    } catch {
      // storage full or disabled: counts live for this page only
    }
  }

  function countedSet(id) {
    if (!state.counted.has(id)) state.counted.set(id, new Set());
    return state.counted.get(id);
  }

  // ---------- conversation list ----------

  async function loadList() {
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

  function renderList() {
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

  // ---------- the selected conversation ----------

  async function select(id) {
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

  async function loadConversation(id) {
    const seq = ++state.loadSeq;
    let conv;
    try {
      conv = await api("GET", "/api/v1/conversations/" + encodeURIComponent(id));
    } catch (e) {
      if (seq !== state.loadSeq) return;
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
    if (seq !== state.loadSeq || state.selected !== id) return;
    conv.messages = conv.messages || [];
    if (!state.current || state.current.id !== id || state.current.status !== conv.status) showSendError("");
    // Keep optimistic replies that the answer does not hold yet. A reply whose
    // outcome was unknown is the row the answer now holds: that row replaces it.
    if (state.current && state.current.id === id) {
      for (const m of state.current.messages) {
        if (!m.pending || conv.messages.some((x) => x.id === m.id)) continue;
        const row = m.unknown ? matchUnknown(conv.messages, m) : null;
        if (row) state.unknownIDs.add(row.id);
        else conv.messages.push(m);
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

  function renderConversation() {
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
    const isOpen = conv.status === "assigned" && !away;
    $("#close-conv").hidden = conv.status === "closed" || !!away;
    $("#reopen-conv").hidden = conv.status !== "closed" || !!away;
    $("#transfer-conv").hidden = !isOpen;
    $("#action-error").hidden = true;
    const notice = $("#transferred-away");
    notice.hidden = !away;
    notice.textContent = away ? "Transferred to " + away.to + ". This conversation is no longer yours: you can read it, but not reply." : "";
    renderTransferNote();
    renderBotHandoff();
    // Linking a contact needs the conversation to be ours.
    $("#cust-contact").inert = !!away;

    renderMessages();
    renderWindow();
    renderCustomer();
    $("#reply").disabled = !isOpen || !windowState(conv).canSend;
  }

  // renderTransferNote shows the receiving agent why the conversation came: the
  // note and who sent it (both from the conversation API, so they survive a reload).
  function renderTransferNote() {
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

  function renderMessages() {
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

  function senderLabel(m) {
    switch (m.sender) {
      case "agent":
        return m.agent_id && state.me && m.agent_id === state.me.id ? "You" : "Agent";
      case "bot":
        return "Bot";
      case "page":
        return "Page";
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
    const url = FBC.safeURL(a.url);
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

  function messageNode(m, prev) {
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
    const children = [h("div", { class: "bubble" }, body)];
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

  function scrollToEnd(force) {
    const box = $("#messages");
    const nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 160;
    if (force || nearEnd) box.scrollTop = box.scrollHeight;
  }

  // ---------- the 24-hour window ----------

  function windowState(conv) {
    const now = Date.now();
    const w = conv.window || {};
    const expires = w.expires_at ? new Date(w.expires_at) : null;
    const human = w.human_agent_until ? new Date(w.human_agent_until) : null;
    const away = state.transferred[conv.id];
    if (away) return { canSend: false, kind: "closed", text: "Transferred to " + away.to + " — you can no longer reply." };
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

  function renderWindow() {
    const conv = state.current;
    if (!conv) return;
    const ws = windowState(conv);
    const el = clear($("#window-state"));
    el.className = "window-state ws-" + ws.kind;
    el.appendChild(h("span", { class: "ws-dot" }));
    el.appendChild(h("span", { class: "ws-text" }, ws.text));
    if (ws.detail) el.appendChild(h("span", { class: "ws-detail muted" }, " · " + ws.detail));
    const reply = $("#reply");
    reply.disabled = !ws.canSend;
    $("#send").disabled = !ws.canSend || state.sending || reply.value.trim() === "";
    updateCharCount();
    renderAttach(ws);
    const card = clear($("#cust-window"));
    card.className = "window-card ws-" + ws.kind;
    card.appendChild(h("div", { class: "ws-text" }, ws.text));
    if (ws.detail) card.appendChild(h("div", { class: "muted small-text" }, ws.detail));
  }

  // renderAttach: the attachment control follows the workstream's policy
  // (agent_attachments) and the window; off, it says why instead.
  function renderAttach(ws) {
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

  function toggleAttach(show) {
    const row = $("#attach-row");
    row.hidden = show === undefined ? !row.hidden : !show;
    $("#attach-toggle").setAttribute("aria-expanded", String(!row.hidden));
    if (!row.hidden) $("#attach-url").focus();
  }

  function updateCharCount() {
    const n = [...$("#reply").value].length;
    const el = $("#char-count");
    el.textContent = n > 0 ? n + " / 1999" : "";
    el.classList.toggle("over", n > 1999);
  }

  function renderCustomer() {
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
    // Contact, earlier conversations and privacy notice (contacts.js).
    if (typeof FBCContacts !== "undefined") FBCContacts.render(conv, { api, reload: () => loadConversation(conv.id) });
  }

  // ---------- sending ----------

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
    await deliver(conv, { text }, { kind: "text", text, attachments: [] }, "You: " + text, () => {
      if (!reply.value) reply.value = text;
    });
    if (state.current === conv) $("#reply").focus();
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
        // Nothing was stored: take the bubble back and give the input back.
        const i = conv.messages.indexOf(temp);
        if (i >= 0) conv.messages.splice(i, 1);
        restore();
        showSendError(e.message);
        // A stale view (closed meanwhile, attachments turned off): read it again.
        if (e.code === "conversation_not_open" || e.code === "attachments_disabled") loadConversation(convID);
      }
    } finally {
      state.sending = false;
      if (state.current === conv) {
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
  function matchUnknown(list, temp) {
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

  function showSendError(msg) {
    const el = $("#send-error");
    el.hidden = !msg;
    el.textContent = msg;
  }

  // applyStatus folds in a status that arrived by event before the message was known.
  function applyStatus(m) {
    const s = state.statuses.get(m.id);
    if (!s) return;
    if (s.status === "failed" || (STATUS_RANK[s.status] ?? -1) > (STATUS_RANK[m.status] ?? -1)) {
      m.status = s.status;
      if (s.error) m.error = s.error;
      if (s.reason) m.reason = s.reason;
    }
  }

  // ---------- close / reopen ----------

  async function closeOrReopen(action) {
    const conv = state.current;
    if (!conv) return;
    const btn = action === "close" ? $("#close-conv") : $("#reopen-conv");
    btn.disabled = true;
    const err = $("#action-error");
    err.hidden = true;
    try {
      const out = await api("POST", "/api/v1/conversations/" + encodeURIComponent(conv.id) + "/" + action);
      toast(action === "close" ? "Conversation closed." : out.status === "reopening" ? "Reopening…" : "Conversation reopened.", "info");
    } catch (e) {
      err.hidden = false;
      err.textContent = e.message;
    } finally {
      btn.disabled = false;
    }
    await loadConversation(conv.id);
    if (state.current) state.filter = OPEN.has(state.current.status) ? "open" : "closed";
    renderList();
  }

  // ---------- transfer ----------

  // loadTargets reads where the conversation can go (agents of its account's
  // queues, and those queues) and remembers their names.
  async function loadTargets(id) {
    const t = await api("GET", "/api/v1/conversations/" + encodeURIComponent(id) + "/transfer-targets");
    state.targetsFetched.add(id);
    for (const a of t.agents || []) state.agentNames.set(a.id, a.name);
    for (const q of t.queues || []) state.queueNames.set(q.id, q.name);
    return t;
  }

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

  function closeTransferDialog() {
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

  // ---------- live events ----------

  function startEvents() {
    stopEvents();
    // EventSource sends the session cookie, and on its own reconnects it sends
    // Last-Event-ID, so the server replays what was missed.
    const es = new EventSource("/api/v1/me/events");
    state.es = es;
    es.addEventListener("open", () => {
      const wasDown = !$("#conn").hidden;
      $("#conn").hidden = true;
      if (state.esRetry > 0 || wasDown) {
        state.esRetry = 0;
        loadList();
        if (state.selected) loadConversation(state.selected);
      }
    });
    es.addEventListener("error", () => {
      $("#conn").hidden = false;
      if (es.readyState === EventSource.CLOSED) {
        // The server refused the stream (e.g. signed out elsewhere): check why.
        state.es = null;
        const delay = Math.min(30000, 1000 * 2 ** state.esRetry++);
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
    es.addEventListener("conversation.assigned", (e) => onAssigned(parse(e)));
    es.addEventListener("conversation.closed", (e) => onClosed(parse(e)));
    es.addEventListener("conversation.transferred", (e) => onTransferred(parse(e)));
    es.addEventListener("message.received", (e) => onReceived(parse(e)));
    es.addEventListener("message.status", (e) => onStatus(parse(e)));
  }

  function stopEvents() {
    if (state.es) state.es.close();
    state.es = null;
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

  function markTransferred(id, target) {
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

  function agentName(id) {
    return state.agentNames.get(id) || "another agent";
  }

  function queueLabel(id) {
    const name = state.queueNames.get(id);
    return name ? "the " + name + " queue" : "a queue";
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

  function onStatus(d) {
    const id = d.message_id;
    if (!id) return;
    const prev = state.statuses.get(id);
    if (!prev || d.status === "failed" || (STATUS_RANK[d.status] ?? -1) > (STATUS_RANK[prev.status] ?? -1)) {
      state.statuses.set(id, { status: d.status, error: d.error || "", reason: d.reason || "" });
    }
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

  // ---------- alerts: toast, system notification, sound ----------

  let audioCtx = null;

  function unlockAudio() {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      if (!audioCtx) audioCtx = new Ctx();
      if (audioCtx.state === "suspended") audioCtx.resume();
    } catch {
      audioCtx = null;
    }
  }

  function beep() {
    if (!audioCtx || audioCtx.state !== "running") return;
    const t = audioCtx.currentTime;
    const osc = audioCtx.createOscillator();
    const gain = audioCtx.createGain();
    osc.type = "sine";
    osc.frequency.setValueAtTime(880, t);
    osc.frequency.setValueAtTime(1320, t + 0.12);
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.25, t + 0.02);
    gain.gain.setValueAtTime(0.25, t + 0.2);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.32);
    osc.connect(gain).connect(audioCtx.destination);
    osc.start(t);
    osc.stop(t + 0.34);
  }

  function askNotificationPermission() {
    if (!("Notification" in window) || Notification.permission !== "default") return;
    try {
      const p = Notification.requestPermission(updateAlertsButton);
      if (p && p.then) p.then(updateAlertsButton, updateAlertsButton);
    } catch {
      // old browsers: callback form only
    }
  }

  function updateAlertsButton() {
    const btn = $("#enable-alerts");
    const needs = "Notification" in window && Notification.permission === "default";
    btn.hidden = !needs;
  }

  async function alertAssigned(conv, d) {
    const name = (conv.customer && conv.customer.name) || "A customer";
    let title = "New conversation";
    let body = name + " is waiting for you.";
    if (d && d.transferred_by) {
      // The sender's name comes from the targets of the conversation, ours now.
      if (!state.agentNames.has(d.transferred_by)) await loadTargets(conv.id).catch(() => {});
      if (state.transferredBy[conv.id] === d.transferred_by && state.selected === conv.id && state.current) renderTransferNote();
      title = "Transferred to you";
      body = name + " — from " + agentName(d.transferred_by) + ".";
    }
    const note = (d && d.note) || "";
    if (note) body += " Note: " + note;
    toast(h("span", {}, h("b", {}, title), " — " + body), "assign", () => select(conv.id), conv.id);
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(title, { body, tag: "fbc-" + conv.id, icon: "/desk/assets/icon.svg" });
        n.onclick = () => {
          window.focus();
          select(conv.id);
          n.close();
        };
      } catch {
        // Notifications need a service worker on some platforms; the toast suffices.
      }
    }
  }

  function toast(content, kind, onClick, conversationID) {
    const el = h("div", { class: "toast toast-" + (kind || "info"), role: kind === "error" ? "alert" : "status" }, content);
    if (conversationID) el.dataset.conversation = conversationID;
    if (onClick) {
      el.classList.add("clickable");
      el.addEventListener("click", () => {
        onClick();
        el.remove();
      });
    }
    const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
    close.addEventListener("click", (e) => {
      e.stopPropagation();
      el.remove();
    });
    el.appendChild(close);
    const box = $("#toasts");
    box.appendChild(el);
    while (box.children.length > 4) box.firstChild.remove();
    setTimeout(() => el.remove(), kind === "assign" ? 12000 : 5000);
  }

  // ---------- wiring ----------

  function bindUI() {
    $("#signin-form").addEventListener("submit", signIn);
    $("#signout").addEventListener("click", signOut);
    $("#presence").addEventListener("change", changePresence);
    $("#enable-alerts").addEventListener("click", () => {
      unlockAudio();
      askNotificationPermission();
    });
    for (const t of document.querySelectorAll(".tab")) t.addEventListener("click", () => setFilter(t.dataset.filter));
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
    reply.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        send();
      }
    });
    reply.addEventListener("input", () => {
      updateCharCount();
      $("#send").disabled = state.sending || reply.value.trim() === "" || !state.current || !windowState(state.current).canSend;
    });
    $("#close-conv").addEventListener("click", () => closeOrReopen("close"));
    $("#reopen-conv").addEventListener("click", () => closeOrReopen("reopen"));
    $("#transfer-conv").addEventListener("click", openTransfer);
    $("#transfer-form").addEventListener("submit", submitTransfer);
    $("#transfer-cancel").addEventListener("click", closeTransferDialog);
    $("#transfer-dialog").addEventListener("close", () => {
      transfer.seq++;
      transfer.conv = null;
    });
    for (const r of document.querySelectorAll('input[name="transfer-kind"]')) r.addEventListener("change", renderTargets);
    // Any click or key press is a gesture that lets the alert sound play later.
    document.addEventListener("pointerdown", unlockAudio, { passive: true });
    document.addEventListener("keydown", unlockAudio, { passive: true });
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && state.selected && state.unread[state.selected]) {
        delete state.unread[state.selected];
        saveUnread();
        renderList();
      }
    });
    // The window countdown and relative times move on; a periodic list refresh
    // also picks up profile names fetched after assignment.
    setInterval(() => {
      if (state.current) renderWindow();
    }, 30000);
    setInterval(() => {
      if (state.me) loadList();
    }, 60000);
  }

  document.addEventListener("DOMContentLoaded", boot);
})();
