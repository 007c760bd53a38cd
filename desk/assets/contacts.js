// The desk's customer summary: the linked contact (link to an existing one,
// create one from the conversation, unlink), the customer's earlier
// conversations and the account's privacy notice. The transcript calls
// render(conv, {api, reload}) whenever it draws the customer panel.
// Every value goes in as text (h), links only through safeURL.

import { h, clear, $, fmtDateTime, statusPill, safeURL } from "./common.js";

let drawn = ""; // what the panel shows now, so live updates do not wipe a search being typed
let ctx = null; // {conv, api, reload}

export function render(conv, opts) {
  ctx = { conv, api: opts.api, reload: opts.reload };
  const key = JSON.stringify([conv.id, conv.contact || null, conv.previous_conversations || [], conv.privacy_notice_url || ""]);
  if (key === drawn) return;
  drawn = key;
  renderContact();
  renderHistory();
  renderPrivacy();
}

function setError(el, msg) {
  el.textContent = msg || "";
  el.hidden = !msg;
}

// ---------- contact ----------

function renderContact() {
  const box = clear($("#cust-contact"));
  const c = ctx.conv.contact;
  if (c) {
    const dl = h("dl", { class: "details" });
    const row = (k, v) => (v ? [h("dt", {}, k), h("dd", {}, v)] : []);
    for (const n of [...row("Name", c.name), ...row("Email", c.email), ...row("Phone", c.phone), ...row("Notes", c.notes), ...row("Linked", fmtDateTime(c.linked_at))]) dl.appendChild(n);
    const err = h("p", { class: "form-error", role: "alert", hidden: true });
    const unlink = h("button", { type: "button", class: "btn small danger", id: "contact-unlink" }, "Unlink");
    unlink.addEventListener("click", async () => {
      unlink.disabled = true;
      try {
        await ctx.api("DELETE", "/api/v1/conversations/" + encodeURIComponent(ctx.conv.id) + "/contact");
        await ctx.reload();
      } catch (e) {
        setError(err, e.message);
        unlink.disabled = false;
      }
    });
    box.appendChild(dl);
    box.appendChild(h("div", { class: "contact-actions" }, h("span", { class: "muted small-text" }, "Later conversations of this customer come linked."), unlink));
    box.appendChild(err);
    return;
  }
  box.appendChild(h("p", { class: "muted small-text contact-none" }, "Not linked to a contact."));
  const input = h("input", { type: "text", id: "contact-search", placeholder: "Search contacts by name, email or phone", "aria-label": "Search contacts", autocomplete: "off", spellcheck: "false" });
  const results = h("ul", { class: "contact-results", id: "contact-results" });
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  let seq = 0;
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      const mine = ++seq;
      clear(results);
      if (!q) return;
      try {
        const list = await ctx.api("GET", "/api/v1/contacts?q=" + encodeURIComponent(q));
        if (mine !== seq) return;
        setError(err, "");
        if (list.length === 0) results.appendChild(h("li", { class: "muted small-text" }, "No contact matches."));
        for (const c of list) results.appendChild(resultItem(c, err));
      } catch (e) {
        if (mine === seq) setError(err, e.message);
      }
    }, 250);
  });
  const createBtn = h("button", { type: "button", class: "btn small", id: "contact-create-open" }, "Create contact");
  const form = createForm(err);
  form.hidden = true;
  createBtn.addEventListener("click", () => {
    form.hidden = !form.hidden;
    if (!form.hidden) form.querySelector("input").focus();
  });
  box.appendChild(input);
  box.appendChild(results);
  box.appendChild(h("div", { class: "contact-actions" }, h("span", { class: "spacer" }), createBtn));
  box.appendChild(form);
  box.appendChild(err);
}

function resultItem(c, err) {
  const btn = h("button", { type: "button", class: "btn small" }, "Link");
  btn.addEventListener("click", () => link({ contact_id: c.id }, btn, err));
  const sub = [c.email, c.phone].filter(Boolean).join(" · ");
  return h("li", { dataset: { id: c.id } }, h("div", { class: "grow" }, h("div", { class: "title" }, c.name), sub ? h("div", { class: "sub" }, sub) : null), btn);
}

// The customer's name is a good start for a new contact, unless it is a stand-in.
function suggestedName() {
  const n = ctx.conv.customer.name || "";
  return /^Facebook user ·|^Deleted customer$/.test(n) ? "" : n;
}

function createForm(err) {
  const field = (label, id, type, value) => {
    const input = h("input", { type, id, autocomplete: "off" });
    input.value = value || "";
    return [h("label", { for: id }, label), input];
  };
  const form = h(
    "form",
    { class: "contact-form", id: "contact-create", novalidate: true },
    field("Name", "contact-name", "text", suggestedName()),
    field("Email", "contact-email", "email"),
    field("Phone", "contact-phone", "text"),
    h("div", { class: "contact-actions" }, h("span", { class: "spacer" }), h("button", { type: "submit", class: "btn small primary" }, "Create and link"))
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const val = (id) => $("#" + id, form).value.trim();
    if (!val("contact-name")) {
      setError(err, "Enter the contact's name.");
      return;
    }
    const create = { name: val("contact-name") };
    if (val("contact-email")) create.email = val("contact-email");
    if (val("contact-phone")) create.phone = val("contact-phone");
    link({ create }, form.querySelector("button[type=submit]"), err);
  });
  return form;
}

async function link(body, btn, err) {
  btn.disabled = true;
  try {
    await ctx.api("POST", "/api/v1/conversations/" + encodeURIComponent(ctx.conv.id) + "/contact", body);
    setError(err, "");
    await ctx.reload();
  } catch (e) {
    setError(err, e.message);
    btn.disabled = false;
  }
}

// ---------- earlier conversations ----------

function renderHistory() {
  const ul = clear($("#cust-history"));
  const list = ctx.conv.previous_conversations || [];
  $("#cust-history-empty").hidden = list.length > 0;
  for (const p of list) {
    const when = p.closed_at ? "Closed " + fmtDateTime(p.closed_at) : "Opened " + fmtDateTime(p.opened_at);
    ul.appendChild(
      h(
        "li",
        { dataset: { id: p.id } },
        h("div", { class: "history-line" }, statusPill(p.status), h("span", { class: "muted small-text" }, when)),
        p.disposition ? h("div", { class: "small-text" }, "Outcome: " + p.disposition) : null,
        h("div", { class: "history-last" + (p.last_message ? "" : " muted") }, p.last_message || "(no text)")
      )
    );
  }
}

// ---------- privacy notice ----------

function renderPrivacy() {
  const box = clear($("#cust-privacy"));
  const url = safeURL(ctx.conv.privacy_notice_url || "");
  box.hidden = !url;
  if (url) box.appendChild(h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "Privacy notice ↗"));
}
