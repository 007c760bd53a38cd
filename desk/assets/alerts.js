// Alerts: toasts, and for a new or transferred assignment also a system
// notification and a sound. Browsers allow sound only after a user gesture,
// so the first click or key press prepares it.

import { h, $ } from "./common.js";
import { state, agentName } from "./state.js";
import { select } from "./list.js";
import { renderTransferNote } from "./transcript.js";
import { loadTargets } from "./transfer.js";

let audioCtx = null; // prepared on a user gesture

export function unlockAudio() {
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

export function askNotificationPermission() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  try {
    const p = Notification.requestPermission(updateAlertsButton);
    if (p && p.then) p.then(updateAlertsButton, updateAlertsButton);
  } catch {
    // old browsers: callback form only
  }
}

export function updateAlertsButton() {
  const btn = $("#enable-alerts");
  const needs = "Notification" in window && Notification.permission === "default";
  btn.hidden = !needs;
}

// alertAssigned tells the agent a conversation is theirs now.
export async function alertAssigned(conv, d) {
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

// alertReminder: a customer of the agent's has waited unanswered for the
// workstream's reminder time (conversation.reminder).
export function alertReminder(conv) {
  const name = (conv.customer && conv.customer.name) || "A customer";
  toast(h("span", {}, h("b", {}, "Waiting for your answer"), " — " + name + "."), "assign", () => select(conv.id), conv.id);
  beep();
}

export function toast(content, kind, onClick, conversationID) {
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

export function bindAlerts() {
  $("#enable-alerts").addEventListener("click", () => {
    unlockAudio();
    askNotificationPermission();
  });
  // Any click or key press is a gesture that lets the alert sound play later.
  document.addEventListener("pointerdown", unlockAudio, { passive: true });
  document.addEventListener("keydown", unlockAudio, { passive: true });
}
