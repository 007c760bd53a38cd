// What the desk knows: the signed-in agent, its conversations, the selected
// one, unread counts and the facts events bring before the API does. One
// object, shared by every module of the desk; each module changes it and then
// redraws what it shows.

// STATUS_RANK orders a reply's statuses: a later event never moves one back.
export const STATUS_RANK = { sending: 0, queued: 1, sent: 2, delivered: 3, read: 4 };

// OPEN are the statuses of a conversation that is not closed.
export const OPEN = new Set(["assigned", "waiting", "bot", "offered", "on_hold", "wrap_up"]);

export const state = {
  me: null,
  convs: new Map(), // id -> conversation (no messages)
  filter: "open",
  selected: null, // conversation id
  current: null, // the selected conversation with messages
  unread: {}, // id -> count of message.received since last opened
  counted: new Map(), // id -> Set of message ids already counted or shown
  activity: {}, // id -> {at, text} last message seen live
  statuses: new Map(), // message id -> latest {status, error, reason} from events
  sending: false, // a reply is on its way: one at a time
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
  // Supervisors watching a conversation (conversation.monitored): id -> name.
  monitoredBy: {},
  // Reads of the list (loadList), numbered as they start; listApplied is the
  // newest one shown. arrivedAt: id -> the number of the newest read started
  // when conversation.assigned brought that conversation: a read started no
  // later than it may not hold it yet.
  listReads: 0,
  listApplied: 0,
  arrivedAt: new Map(),
};

// forget empties the state when the agent signs out or the session ends.
export function forget() {
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
  state.arrivedAt.clear();
}

// Unread counts persist per agent in this browser.

function unreadKey() {
  return "fbc.desk.unread." + (state.me ? state.me.id : "");
}

export function loadUnread() {
  try {
    state.unread = JSON.parse(localStorage.getItem(unreadKey()) || "{}") || {};
  } catch {
    state.unread = {};
  }
}

export function saveUnread() {
  try {
    localStorage.setItem(unreadKey(), JSON.stringify(state.unread));
  } catch {
    // storage full or disabled: counts live for this page only
  }
}

// countedSet holds the ids of a conversation's messages already shown or
// counted, so a replayed event (reconnect, reassignment) counts once.
export function countedSet(id) {
  if (!state.counted.has(id)) state.counted.set(id, new Set());
  return state.counted.get(id);
}

// noteStatus records the latest status known of message id (from an event, the
// send's answer or a read), so that an older one never moves it back: a read
// of the conversation made before the reply was sent still says "sending".
export function noteStatus(id, s) {
  if (!id || !s || !s.status) return;
  const prev = state.statuses.get(id);
  if (!prev || s.status === "failed" || (STATUS_RANK[s.status] ?? -1) > (STATUS_RANK[prev.status] ?? -1)) {
    state.statuses.set(id, { status: s.status, error: s.error || "", reason: s.reason || "" });
  }
}

// applyStatus folds in a status that arrived by event before the message was known.
export function applyStatus(m) {
  const s = state.statuses.get(m.id);
  if (!s) return;
  if (s.status === "failed" || (STATUS_RANK[s.status] ?? -1) > (STATUS_RANK[m.status] ?? -1)) {
    m.status = s.status;
    if (s.error) m.error = s.error;
    if (s.reason) m.reason = s.reason;
  }
}

// agentName and queueLabel read the names learnt from transfer targets.
export function agentName(id) {
  return state.agentNames.get(id) || "another agent";
}

export function queueLabel(id) {
  const name = state.queueNames.get(id);
  return name ? "the " + name + " queue" : "a queue";
}
