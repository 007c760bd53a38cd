// The desk's session: sign-in with an agent token (kept in an HttpOnly cookie
// by /desk/session), sign-out, presence, and api(), through which every module
// calls the JSON API so that any 401 ends the session on screen.

import { clear, $, request, APIError, avatar, signinToken } from "./common.js";
import { state, forget, loadUnread } from "./state.js";
import { startEvents, stopEvents } from "./events.js";
import { renderList } from "./list.js";
import { renderConversation } from "./transcript.js";
import { closeTransferDialog } from "./transfer.js";
import { unlockAudio, askNotificationPermission, updateAlertsButton, toast } from "./alerts.js";

// resume shows the desk when the session cookie is still good, else sign-in.
export async function resume() {
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
  const token = signinToken("Enter your agent token.");
  if (!token) return;
  const err = $("#signin-error");
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
  forget();
  closeTransferDialog();
  renderList();
  renderConversation();
}

// sessionEnded is what any 401 leads to.
export function sessionEnded() {
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
  $("#supervisor-link").hidden = agent.role !== "supervisor";
  clear($("#me-avatar")).appendChild(avatar(agent.name, "", "small"));
  setPresenceUI(agent.presence || "offline");
  updateAlertsButton();
  // The list is read once the event stream is open (events.js): a fresh stream
  // starts at the newest event, so a list read before it could miss what
  // happened in between.
  startEvents();
}

// api calls the JSON API with the session cookie; a 401 ends the session.
export async function api(method, path, body) {
  try {
    return await request(method, path, body);
  } catch (e) {
    if (e instanceof APIError && e.status === 401) sessionEnded();
    throw e;
  }
}

// Presence: available, busy, away or offline, as the agent chooses.

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

export function bindSession() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", signOut);
  $("#presence").addEventListener("change", changePresence);
}
