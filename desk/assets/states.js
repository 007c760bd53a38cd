// Conversation states (issue 13): hold, end (wrap-up) and finish in the
// conversation's header, the live state from conversation.state, and the offer
// notification (countdown, the customer's first message, accept or decline).

import { $, h, clear } from "./common.js";
import { state, OPEN } from "./state.js";
import { api } from "./session.js";
import { loadList, renderList } from "./list.js";
import { loadConversation } from "./transcript.js";
import { toast } from "./alerts.js";

// showStateActions shows the header's state buttons that fit the conversation.
export function showStateActions(conv, away) {
  const mine = !!conv && !away;
  $("#hold-conv").hidden = !mine || conv.status !== "assigned";
  $("#end-conv").hidden = !mine || (conv.status !== "assigned" && conv.status !== "on_hold");
  $("#finish-wrapup").hidden = !mine || conv.status !== "wrap_up";
  // In wrap-up, Finish takes the place of Close.
  if (mine && conv.status === "wrap_up") $("#close-conv").hidden = true;
}

// conversationAction posts an action on the open conversation (close, reopen,
// hold, end, finish), toasts what done says of the answer, shows a refusal in
// the header, and redraws.
export async function conversationAction(action, btn, done) {
  const conv = state.current;
  if (!conv) return;
  btn.disabled = true;
  const err = $("#action-error");
  err.hidden = true;
  try {
    const out = await api("POST", "/api/v1/conversations/" + encodeURIComponent(conv.id) + "/" + action);
    toast(done(out), "info");
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

// onState takes conversation.state: the list and the open transcript follow.
export function onState(d) {
  const c = state.convs.get(d.conversation_id);
  if (c) c.status = d.status;
  if (d.status === "waiting" && d.reason === "hold_return_timeout") {
    // Routed again: no longer this agent's.
    state.convs.delete(d.conversation_id);
    toast("A held conversation went back to its queue: the customer wrote while you had no room.", "info");
  }
  if (state.selected === d.conversation_id) loadConversation(d.conversation_id);
  renderList();
}

// The offer on screen: {id, expires} or null.
let offer = null;
let ticker = null;

export function onOffered(d) {
  const conv = d.conversation || {};
  offer = { id: d.conversation_id, expires: new Date(d.expires_at) };
  const name = (conv.customer && conv.customer.name) || "A customer";
  clear($("#offer-body")).append(h("b", {}, name), h("div", { class: "offer-message" }, d.first_message || ""));
  $("#offer").hidden = false;
  tick();
  clearInterval(ticker);
  ticker = setInterval(tick, 250);
}

function tick() {
  if (!offer) return;
  const left = Math.max(0, Math.ceil((offer.expires - Date.now()) / 1000));
  $("#offer-countdown").textContent = left + " s";
  if (left === 0) hideOffer();
}

function hideOffer() {
  offer = null;
  clearInterval(ticker);
  $("#offer").hidden = true;
}

export function onOfferEnded(d) {
  if (offer && offer.id === d.conversation_id) hideOffer();
  if (d.outcome === "expired") toast("An offered conversation ran out and went to the next agent.", "info");
}

export function onPresenceChanged(d) {
  if (d.message) toast(d.message, "error");
  const sel = $("#presence");
  if (sel && d.status) sel.value = d.status;
}

async function answerOffer(action) {
  if (!offer) return;
  const id = offer.id;
  hideOffer();
  try {
    await api("POST", "/api/v1/conversations/" + encodeURIComponent(id) + "/" + action);
    if (action === "accept") {
      await loadList();
      state.selected = id;
      await loadConversation(id);
      renderList();
    }
  } catch (e) {
    toast(e.message, "error");
  }
}

export function bindStates() {
  $("#hold-conv").addEventListener("click", (e) => conversationAction("hold", e.currentTarget, () => "Conversation on hold."));
  $("#end-conv").addEventListener("click", (e) =>
    conversationAction("end", e.currentTarget, (out) => (out.status === "wrap_up" ? "Conversation ended: wrap up, then finish." : "Conversation closed.")),
  );
  $("#finish-wrapup").addEventListener("click", (e) => conversationAction("wrap-up/finish", e.currentTarget, () => "Wrap-up finished."));
  $("#offer-accept").addEventListener("click", () => answerOffer("accept"));
  $("#offer-decline").addEventListener("click", () => answerOffer("decline"));
}
