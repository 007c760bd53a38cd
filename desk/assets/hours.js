// The admin console's editor of a workstream's operating hours, what happens
// out of hours, and the overflow before queueing (issue 15), and of a queue's own
// hours. The calendar is edited as the API's JSON (the API checks it and says
// what is wrong); the actions are chosen from lists. A refused save changes
// nothing, as the API guarantees.

import { h, clear } from "./common.js";

const EXAMPLE = JSON.stringify(
  {
    time_zone: "Europe/Amsterdam",
    weekly: { mon: [["09:00", "17:00"]], tue: [["09:00", "17:00"]], wed: [["09:00", "17:00"]], thu: [["09:00", "17:00"]], fri: [["09:00", "17:00"]] },
    exceptions: [{ date: "2026-12-25", closed: true }],
  },
  null,
  2
);

const ACTIONS = [
  ["assign_anyway", "Assign anyway (keep it for the next opening)"],
  ["transfer", "Transfer to a queue"],
  ["end", "End with a message"],
];

function pretty(v) {
  return v == null ? "" : JSON.stringify(v, null, 2);
}

// parseJSON reads a textarea: null when empty.
function parseJSON(text, field) {
  if (text.trim() === "") return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(field + " is not valid JSON: " + e.message);
  }
}

function select(id, options, value) {
  const el = h("select", { id });
  for (const [v, label] of options) el.appendChild(h("option", { value: v }, label));
  el.value = value || "";
  return el;
}

function queueChoices(queues, none) {
  return [["", none], ...queues.map((q) => [q.id, q.name])];
}

// onSubmit runs save on the form's submit with its button disabled; an error
// shows under the form, and one found before sending or refused by the API (4xx)
// says nothing was saved.
function onSubmit(form, button, err, save) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    button.disabled = true;
    try {
      await save();
    } catch (e) {
      const refused = e.status === undefined || (e.status >= 400 && e.status < 500);
      err.textContent = e.message + (refused ? " Nothing was saved." : "");
      err.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
}

// renderHours fills box with the editor for workstream w; deps has the admin
// console's api and toast, and saved(workstream) takes the stored result.
export function renderHours(box, w, queues, deps) {
  clear(box);
  const hours = h("textarea", { id: "ws-hours", class: "mono", rows: 8, spellcheck: "false", placeholder: "empty: always open\n" + EXAMPLE });
  hours.value = pretty(w.operating_hours);
  const ooh = w.out_of_hours || {};
  const oohAction = select("ws-ooh-action", [["", "Default (assign anyway)"], ...ACTIONS], ooh.action);
  const oohQueue = select("ws-ooh-queue", queueChoices(queues, "No queue"), ooh.queue_id);
  const of = w.overflow || {};
  const maxWaiting = h("input", { id: "ws-max-waiting", type: "text", inputmode: "numeric", autocomplete: "off", placeholder: "empty: no overflow before queueing" });
  maxWaiting.value = of.max_waiting == null ? "" : String(of.max_waiting);
  const ofAction = select("ws-overflow-action", ACTIONS, of.action || "transfer");
  const ofQueue = select("ws-overflow-queue", queueChoices(queues, "No queue"), of.queue_id);
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { id: "ws-hours-save", type: "submit", class: "btn primary" }, "Save hours and overflow");
  const form = h(
    "form",
    { id: "ws-hours-form", novalidate: true },
    h("label", { for: "ws-hours" }, "Operating hours ", h("span", { class: "hint-inline" }, "(JSON: time_zone, weekly, exceptions; a queue's own hours override these)")),
    hours,
    h("div", { class: "row" }, h("div", {}, h("label", { for: "ws-ooh-action" }, "Out of hours"), oohAction), h("div", {}, h("label", { for: "ws-ooh-queue" }, "Transfer queue (should be open then)"), oohQueue)),
    h(
      "div",
      { class: "row" },
      h("div", {}, h("label", { for: "ws-max-waiting" }, "Overflow when the queue holds (waiting)"), maxWaiting),
      h("div", {}, h("label", { for: "ws-overflow-action" }, "Then"), ofAction),
      h("div", {}, h("label", { for: "ws-overflow-queue" }, "Overflow queue"), ofQueue)
    ),
    h("p", { class: "muted small-text field-hint" }, "Decided once, before a conversation enters its queue; the customer is told when the team is back. A manual transfer is never judged."),
    err,
    h("div", { class: "form-actions" }, save)
  );
  onSubmit(form, save, err, async () => {
    const body = {
      operating_hours: parseJSON(hours.value, "operating_hours"),
      out_of_hours: oohAction.value ? { action: oohAction.value, ...(oohAction.value === "transfer" ? { queue_id: oohQueue.value } : {}) } : null,
      overflow: null,
    };
    const max = maxWaiting.value.trim();
    if (max !== "") {
      if (!/^\d+$/.test(max)) throw new Error("overflow.max_waiting must be a whole number (or empty).");
      body.overflow = { max_waiting: Number(max), action: ofAction.value, ...(ofAction.value === "transfer" ? { queue_id: ofQueue.value } : {}) };
    }
    deps.saved(await deps.api("PATCH", "/api/v1/workstreams/" + encodeURIComponent(w.id), body));
    deps.toast("Hours and overflow saved.");
  });
  box.appendChild(form);
  box.appendChild(queueHoursEditor(queues, deps));
}

// queueHoursEditor edits one queue's own hours (empty: the workstream's apply).
function queueHoursEditor(queues, deps) {
  const pick = select("queue-hours-queue", queueChoices(queues, "Choose a queue"), "");
  const text = h("textarea", { id: "queue-hours", class: "mono", rows: 5, spellcheck: "false", placeholder: "empty: the workstream's hours apply" });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const save = h("button", { id: "queue-hours-save", type: "submit", class: "btn" }, "Save the queue's hours");
  pick.addEventListener("change", () => {
    const q = queues.find((q) => q.id === pick.value);
    text.value = pretty(q && q.operating_hours);
  });
  const form = h(
    "form",
    { id: "queue-hours-form", novalidate: true },
    h("div", { class: "row" }, h("div", {}, h("label", { for: "queue-hours-queue" }, "A queue's own hours"), pick)),
    text,
    err,
    h("div", { class: "form-actions" }, save)
  );
  onSubmit(form, save, err, async () => {
    if (!pick.value) throw new Error("Choose a queue.");
    const out = await deps.api("PATCH", "/api/v1/queues/" + encodeURIComponent(pick.value), { operating_hours: parseJSON(text.value, "operating_hours") });
    const q = queues.find((q) => q.id === pick.value);
    if (q) q.operating_hours = out.operating_hours;
    deps.toast("The queue's hours are saved.");
  });
  return form;
}
