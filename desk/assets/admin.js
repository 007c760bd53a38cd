// The admin console: accounts, pages (with provisioning status), agents, and
// workstreams: a new one, and each one's settings (name, language,
// distribution, capacity units, queues and overflow, auto-close, HUMAN_AGENT,
// bot, pages; attachment policies; automated messages).
//
// The admin token is kept in sessionStorage and sent as a bearer token. The
// trade-off: script on this page could read it (an HttpOnly cookie could not be
// read), but the token never rides along with requests on its own, so no CSRF
// defence is needed, it is scoped to this tab and forgotten when the tab
// closes, and the page runs only its own scripts (CSP script-src 'self') and
// never renders data as HTML.

import { h, append, clear, $, request, APIError, fmtDateTime, copyField, statusPill, avatar, signinToken } from "./common.js";
import { renderHours } from "./hours.js";

const TOKEN_KEY = "fbc.admin.token";
const ACCOUNTS_KEY = "fbc.admin.accounts";
const AGENTS_KEY = "fbc.admin.agents";
const polls = new Map(); // page id -> timer

let token = "";
let current = null; // the shown account
let workstream = null; // the shown workstream
let wsQueues = []; // the queues of the shown workstream's account
let wsSeq = 0;

// ---------- storage ----------

function load(key) {
  try {
    return JSON.parse(localStorage.getItem(key) || "[]") || [];
  } catch {
    return [];
  }
}

function save(key, list) {
  try {
    localStorage.setItem(key, JSON.stringify(list));
  } catch {
    // storage disabled: the list lives for this page only
  }
}

function remember(key, item) {
  const list = load(key).filter((x) => x.id !== item.id);
  list.unshift(item);
  save(key, list.slice(0, 50));
}

// ---------- API ----------

async function api(method, path, body) {
  try {
    return await request(method, path, body, { bearer: token });
  } catch (e) {
    if (e instanceof APIError && e.status === 401) {
      signOut("The admin token was refused. Sign in again.");
    }
    throw e;
  }
}

// ---------- sign-in ----------

async function signIn(ev) {
  ev.preventDefault();
  const err = $("#signin-error");
  err.hidden = true;
  const value = signinToken("Enter the admin token.");
  if (!value) return;
  const btn = $("#signin-button");
  btn.disabled = true;
  try {
    await check(value);
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("#token").value = "";
    showApp();
  } catch (e) {
    err.hidden = false;
    err.textContent = e instanceof APIError && e.status === 401 ? "This admin token is not valid." : e.message;
  } finally {
    btn.disabled = false;
  }
}

// check validates a token. There is no "who am I" endpoint for admins: an
// account that cannot exist answers 404 to a valid token and 401 otherwise.
async function check(value) {
  try {
    await request("GET", "/api/v1/accounts/00000000-0000-0000-0000-000000000000", undefined, { bearer: value });
  } catch (e) {
    if (e instanceof APIError && e.status === 404) return;
    throw e;
  }
}

function signOut(message) {
  token = "";
  closeWorkstream();
  sessionStorage.removeItem(TOKEN_KEY);
  for (const t of polls.values()) clearTimeout(t);
  polls.clear();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  const err = $("#signin-error");
  err.hidden = !message;
  err.textContent = message || "";
}

function showApp() {
  $("#signin").hidden = true;
  $("#app").hidden = false;
  renderAccountList();
  renderAgentList();
}

// ---------- accounts ----------

function renderAccountList() {
  const ul = clear($("#account-list"));
  const list = load(ACCOUNTS_KEY);
  if (list.length === 0) ul.appendChild(h("li", { class: "empty-note" }, "None yet."));
  for (const a of list) {
    const li = h(
      "li",
      { class: current && current.id === a.id ? "selected" : "", tabindex: "0", role: "button" },
      h("div", { class: "grow" }, h("div", { class: "title" }, a.name || "Account"), h("div", { class: "sub mono" }, a.id))
    );
    const forget = h("button", { type: "button", class: "btn ghost small", title: "Forget in this browser" }, "Forget");
    forget.addEventListener("click", (e) => {
      e.stopPropagation();
      save(ACCOUNTS_KEY, load(ACCOUNTS_KEY).filter((x) => x.id !== a.id));
      renderAccountList();
    });
    li.appendChild(forget);
    li.addEventListener("click", () => openAccount(a.id));
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter") openAccount(a.id);
    });
    ul.appendChild(li);
  }
}

async function createAccount(ev) {
  ev.preventDefault();
  const err = $("#account-error");
  err.hidden = true;
  try {
    const a = await api("POST", "/api/v1/accounts", {
      name: $("#acc-name").value.trim(),
      app_id: $("#acc-app-id").value.trim(),
      app_secret: $("#acc-app-secret").value,
    });
    remember(ACCOUNTS_KEY, { id: a.id, name: a.name });
    $("#account-form").reset();
    toast("Account " + a.name + " created.");
    await openAccount(a.id);
  } catch (e) {
    err.hidden = false;
    err.textContent = e.message;
  }
}

async function openAccount(id) {
  id = String(id || "").trim();
  if (!id) return;
  let a;
  try {
    a = await api("GET", "/api/v1/accounts/" + encodeURIComponent(id));
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) toast(e.status === 404 ? "No account has this id." : e.message, "error");
    return;
  }
  if (!current || current.id !== a.id) closeWorkstream();
  current = a;
  remember(ACCOUNTS_KEY, { id: a.id, name: a.name });
  renderAccountList();
  renderAccount();
}

function renderAccount() {
  const a = current;
  $("#account-view").hidden = !a;
  $("#account-none").hidden = !!a;
  if (!a) return;
  $("#account-name").textContent = a.name;
  clear($("#account-status")).appendChild(statusPill(a.status || "active"));
  const dl = clear($("#account-details"));
  for (const [k, v] of [
    ["Account id", a.id],
    ["App id", a.app_id],
    ["Pages", String((a.pages || []).length)],
  ])
    dl.append(h("dt", {}, k), h("dd", { class: k.endsWith("id") ? "mono" : "" }, v));
  privacyForm(a, dl);
  const box = clear($("#pages"));
  const pages = a.pages || [];
  if (pages.length === 0) box.appendChild(h("p", { class: "empty-note" }, "No pages yet. Add the first one below."));
  for (const p of pages) {
    box.appendChild(pageCard(p));
    if (p.provisioning_status === "pending") poll(p.id);
  }
  loadWorkstreams(a.id);
  loadQuickReplies(a.id);
}

// loadSection reads an account's list (GET /accounts/{id}/<resource>) into the
// section of the page with the same id, titled: { box, list, path }, or null when
// another account is shown by then or the read failed (the box says so, and why).
async function loadSection(accountID, resource, title) {
  const box = $("#" + resource);
  const path = "/api/v1/accounts/" + encodeURIComponent(accountID) + "/" + resource;
  let list;
  try {
    list = await api("GET", path);
  } catch (e) {
    if (!current || current.id !== accountID) return null;
    clear(box).append(h("h3", { class: "section-title" }, title), h("p", { class: "form-error", role: "alert" }, "Could not load the " + title.toLowerCase() + ": " + e.message));
    return null;
  }
  if (!current || current.id !== accountID) return null;
  clear(box).appendChild(h("h3", { class: "section-title" }, title));
  return { box, list, path };
}

// ---------- quick replies (the account's library) ----------

// loadQuickReplies shows the account's quick replies with a form to add one or
// change one (Edit fills the form). The API refuses an unknown slug (400) and
// the form shows its message.
async function loadQuickReplies(accountID) {
  const read = await loadSection(accountID, "quick-replies", "Quick replies");
  if (!read) return;
  const { box, list, path } = read;
  box.appendChild(
    h(
      "p",
      { class: "muted small-text" },
      "Agents type / in the reply box to find these by title or tag. Slugs filled when used: {customer.first_name}, {customer.name}, {agent.name}, {agent.first_name}, {page.name}."
    )
  );
  const title = h("input", { id: "qr-title", type: "text", required: true });
  const text = h("textarea", { id: "qr-text", rows: 3, required: true });
  const tags = h("input", { id: "qr-tags", type: "text", placeholder: "order, shipping" });
  const locale = h("input", { id: "qr-locale", type: "text", placeholder: "en (empty: every language)" });
  const err = h("p", { id: "qr-error", class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { id: "qr-save", type: "submit", class: "btn primary" }, "Add quick reply");
  let editing = null; // the reply the form changes, or null to add one
  const reset = () => {
    editing = null;
    title.value = text.value = tags.value = locale.value = "";
    submit.textContent = "Add quick reply";
  };
  if ((list || []).length === 0) box.appendChild(h("p", { class: "empty-note" }, "No quick replies yet."));
  else {
    const ul = h("ul", { class: "list", id: "qr-list" });
    for (const r of list) {
      const edit = h("button", { type: "button", class: "btn small" }, "Edit");
      const del = h("button", { type: "button", class: "btn small danger" }, "Delete");
      edit.addEventListener("click", () => {
        editing = r;
        title.value = r.title;
        text.value = r.text;
        tags.value = (r.tags || []).join(", ");
        locale.value = r.locale || "";
        submit.textContent = "Save changes";
        title.focus();
      });
      del.addEventListener("click", async () => {
        try {
          await api("DELETE", path + "/" + encodeURIComponent(r.id));
          loadQuickReplies(accountID);
        } catch (e) {
          toast(e.message, "error");
        }
      });
      const sub = [r.locale || "every language"].concat((r.tags || []).map((t) => "#" + t)).join(" · ");
      ul.appendChild(
        h("li", { dataset: { quickReply: r.id } }, h("div", { class: "grow" }, h("div", { class: "title" }, r.title), h("div", { class: "sub" }, sub), h("div", { class: "sub" }, r.text)), edit, del)
      );
    }
    box.appendChild(ul);
  }
  const form = h(
    "form",
    { id: "qr-form", class: "inline-form", novalidate: true },
    h("div", { class: "row" }, h("div", {}, h("label", { for: "qr-title" }, "Title"), title), h("div", {}, h("label", { for: "qr-locale" }, "Locale"), locale)),
    h("label", { for: "qr-text" }, "Text"),
    text,
    h("label", { for: "qr-tags" }, "Tags (comma-separated)"),
    tags,
    err,
    h("div", { class: "form-actions" }, submit)
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const body = {
      title: title.value.trim(),
      text: text.value.trim(),
      tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
      locale: locale.value.trim(),
    };
    try {
      if (editing) await api("PATCH", path + "/" + encodeURIComponent(editing.id), body);
      else await api("POST", path, body);
      reset();
      loadQuickReplies(accountID);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  box.appendChild(form);
}

// The account's privacy notice: agents see a link to it in the desk's customer panel.
function privacyForm(a, after) {
  const old = $("#account-privacy");
  if (old) old.remove();
  const input = h("input", { type: "text", id: "privacy-url", placeholder: "https://example.com/privacy", spellcheck: "false", autocomplete: "off" });
  input.value = a.privacy_notice_url || "";
  const err = h("p", { class: "form-error", role: "alert", hidden: true });
  const form = h(
    "form",
    { id: "account-privacy", class: "inline-form", novalidate: true },
    h("label", { for: "privacy-url" }, "Privacy notice URL (shown to agents on the desk)"),
    h("div", { class: "copy-row" }, input, h("button", { type: "submit", class: "btn small" }, "Save")),
    err
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      current = await api("PATCH", "/api/v1/accounts/" + encodeURIComponent(a.id), { privacy_notice_url: input.value.trim() });
      renderAccount();
      toast("Privacy notice saved.", "info");
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
    }
  });
  after.after(form);
}

// ---------- pages ----------

function pageCard(p) {
  const card = h("div", { class: "page-card", dataset: { page: p.id } });
  const pending = p.provisioning_status === "pending";
  card.appendChild(
    h(
      "div",
      { class: "page-head" },
      h("h3", {}, p.name || "Page " + p.page_id),
      statusPill(p.provisioning_status),
      pending ? h("span", { class: "provisioning" }, h("span", { class: "spinner" }), "Provisioning…") : null,
      h("div", { class: "spacer" }),
      replaceButton(card, p)
    )
  );
  const kv = h("dl", { class: "kv" });
  for (const [k, v, mono] of [
    ["Facebook page id", p.page_id, true],
    ["Page uuid", p.id, true],
    ["Token expires", p.token_expires_at ? fmtDateTime(p.token_expires_at) : "never / unknown"],
    ["Last check", p.last_health_check_at ? fmtDateTime(p.last_health_check_at) : "—"],
  ])
    kv.append(h("dt", {}, k), h("dd", { class: mono ? "mono" : "" }, v));
  card.appendChild(kv);
  if (p.last_error) card.appendChild(h("div", { class: "last-error", role: "alert" }, p.last_error));
  card.appendChild(h("p", { class: "muted small-text hint" }, "Paste these into your app's Messenger webhook settings (Callback URL and Verify Token)."));
  card.appendChild(copyField("Callback URL", p.callback_url));
  card.appendChild(copyField("Verify token", p.verify_token));
  return card;
}

function replaceButton(card, p) {
  const btn = h("button", { type: "button", class: "btn small" }, "Replace token");
  btn.addEventListener("click", () => {
    if (card.querySelector(".replace-form")) return;
    const input = h("input", { type: "password", autocomplete: "off", "aria-label": "New page access token", placeholder: "New page access token" });
    const err = h("p", { class: "form-error", role: "alert", hidden: true });
    const save = h("button", { type: "submit", class: "btn primary small" }, "Save and re-provision");
    const cancel = h("button", { type: "button", class: "btn small" }, "Cancel");
    const form = h("form", { class: "inline-form replace-form", novalidate: true }, h("label", {}, "New page access token"), input, err, h("div", { class: "form-actions" }, save, cancel));
    cancel.addEventListener("click", () => form.remove());
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      save.disabled = true;
      try {
        await api("PUT", "/api/v1/pages/" + encodeURIComponent(p.id) + "/token", { access_token: input.value.trim() });
        toast("Token saved; provisioning again.");
        p.provisioning_status = "pending";
        p.last_error = "";
        replacePage(p);
        poll(p.id);
      } catch (ex) {
        err.hidden = false;
        err.textContent = ex.message;
        save.disabled = false;
      }
    });
    card.appendChild(form);
    input.focus();
  });
  return btn;
}

function replacePage(p) {
  if (!current) return;
  const pages = current.pages || (current.pages = []);
  const i = pages.findIndex((x) => x.id === p.id);
  if (i >= 0) pages[i] = Object.assign({}, pages[i], p);
  else pages.push(p);
  const old = document.querySelector('.page-card[data-page="' + CSS.escape(p.id) + '"]');
  const card = pageCard(pages[i >= 0 ? i : pages.length - 1]);
  if (old) old.replaceWith(card);
  else renderAccount();
}

// poll follows a page's provisioning until it is no longer pending.
function poll(id, delay) {
  if (polls.has(id)) return;
  delay = delay || 1000;
  polls.set(
    id,
    setTimeout(async () => {
      polls.delete(id);
      if (!token) return;
      let p;
      try {
        p = await api("GET", "/api/v1/pages/" + encodeURIComponent(id));
      } catch (e) {
        if (!(e instanceof APIError && e.status === 401)) poll(id, Math.min(delay * 2, 10000));
        return;
      }
      if (current && (current.pages || []).some((x) => x.id === id)) replacePage(p);
      if (p.provisioning_status === "pending") poll(id, Math.min(delay * 1.5, 5000));
      else toast("Page " + (p.name || p.page_id) + " is " + p.provisioning_status.replace(/_/g, " ") + ".", p.provisioning_status === "active" ? "info" : "error");
    }, delay)
  );
}

async function createPage(ev) {
  ev.preventDefault();
  if (!current) return;
  const err = $("#page-error");
  err.hidden = true;
  try {
    const p = await api("POST", "/api/v1/accounts/" + encodeURIComponent(current.id) + "/pages", {
      name: $("#page-name").value.trim(),
      page_id: $("#page-id").value.trim(),
      access_token: $("#page-token").value.trim(),
    });
    $("#page-form").reset();
    replacePage(p);
    renderAccount();
    poll(p.id);
  } catch (e) {
    err.hidden = false;
    err.textContent = e.message;
  }
}

// ---------- workstreams ----------

async function loadWorkstreams(accountID) {
  const read = await loadSection(accountID, "workstreams", "Workstreams");
  if (!read) return;
  const { box, list } = read;
  if (!list || list.length === 0) {
    box.appendChild(h("p", { class: "empty-note" }, "No workstream yet: adding a page creates one."));
    box.appendChild(newWorkstreamForm(list || []));
    return;
  }
  const ul = h("ul", { class: "list" });
  for (const w of list) {
    const pages = (w.page_ids || []).length;
    const btn = h("button", { type: "button", class: "btn small", dataset: { workstream: w.id } }, "Settings");
    btn.addEventListener("click", () => openWorkstream(w.id));
    ul.appendChild(
      h(
        "li",
        { class: workstream && workstream.id === w.id ? "selected" : "", dataset: { workstream: w.id } },
        h("div", { class: "grow" }, h("div", { class: "title" }, w.name), h("div", { class: "sub" }, (w.language || "en") + " · " + w.distribution_mode + " · " + pages + (pages === 1 ? " page" : " pages"))),
        btn
      )
    );
  }
  box.appendChild(ul);
  box.appendChild(newWorkstreamForm(list));
}

// newWorkstreamForm: POST /workstreams with a name and, optionally, pages
// moved into it. It gets a queue of its own that every agent joins.
function newWorkstreamForm(list) {
  const a = current;
  const names = new Map(list.map((w) => [w.id, w.name]));
  const name = h("input", { type: "text", id: "new-ws-name", maxlength: "200", autocomplete: "off", placeholder: "Billing" });
  const pages = h("div", { class: "new-ws-pages" });
  for (const p of (a.pages || []).filter((p) => !["deleting", "deleted"].includes(p.provisioning_status))) {
    const id = "new-ws-page-" + p.id;
    const from = names.get(p.workstream_id);
    pages.appendChild(
      h("label", { class: "check", for: id }, h("input", { type: "checkbox", id, class: "new-ws-page", value: p.id }), h("span", {}, "Move " + (p.name || "page " + p.page_id) + " here" + (from ? " (now in " + from + ")" : "")))
    );
  }
  const err = h("p", { id: "new-ws-error", class: "form-error", role: "alert", hidden: true });
  const submit = h("button", { type: "submit", id: "new-ws-create", class: "btn small" }, "Create workstream");
  const form = h(
    "form",
    { id: "new-workstream", class: "inline-form", novalidate: true },
    h("label", { for: "new-ws-name" }, "New workstream"),
    h("div", { class: "copy-row" }, name, submit),
    pages.childNodes.length ? pages : null,
    err
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.hidden = true;
    const body = { account_id: a.id, name: name.value.trim() };
    const ids = [...form.querySelectorAll(".new-ws-page:checked")].map((i) => i.value);
    if (ids.length > 0) body.page_ids = ids;
    submit.disabled = true;
    let w;
    try {
      w = await api("POST", "/api/v1/workstreams", body);
    } catch (e) {
      err.textContent = e.message;
      err.hidden = false;
      submit.disabled = false;
      return;
    }
    toast("Workstream " + w.name + " created.");
    if (current && current.id === a.id) {
      if (ids.length > 0) await openAccount(a.id);
      else await loadWorkstreams(a.id);
      openWorkstream(w.id);
    }
  });
  return form;
}

function closeWorkstream() {
  wsSeq++;
  workstream = null;
  $("#workstream-view").hidden = true;
  for (const li of document.querySelectorAll("#workstreams li[data-workstream]")) li.classList.remove("selected");
}

async function openWorkstream(id) {
  const seq = ++wsSeq;
  let w, messages, queues;
  try {
    w = await api("GET", "/api/v1/workstreams/" + encodeURIComponent(id));
    [messages, queues] = await Promise.all([
      api("GET", "/api/v1/workstreams/" + encodeURIComponent(id) + "/automated-messages"),
      api("GET", "/api/v1/accounts/" + encodeURIComponent(w.account_id) + "/queues"),
    ]);
  } catch (e) {
    if (seq === wsSeq && !(e instanceof APIError && e.status === 401)) toast("Could not open the workstream: " + e.message, "error");
    return;
  }
  if (seq !== wsSeq) return;
  workstream = w;
  wsQueues = Array.isArray(queues) ? queues : [];
  for (const li of document.querySelectorAll("#workstreams li[data-workstream]")) li.classList.toggle("selected", li.dataset.workstream === id);
  const view = $("#workstream-view");
  view.hidden = false;
  view.dataset.workstream = w.id;
  renderWorkstreamHead();
  renderSettings();
  renderAttachmentPolicy();
  renderHours($("#workstream-hours"), w, wsQueues, { api, toast, saved: (out) => (workstream = out) });
  renderAutomated(messages);
  view.scrollIntoView({ block: "start" });
}

function renderWorkstreamHead() {
  const w = workstream;
  $("#workstream-name").textContent = "Workstream · " + w.name;
  const dl = clear($("#workstream-details"));
  for (const [k, v, mono] of [
    ["Workstream id", w.id, true],
    ["Pages", String((w.page_ids || []).length)],
  ])
    dl.append(h("dt", {}, k), h("dd", { class: mono ? "mono" : "" }, v));
}

function renderAutomated(messages) {
  const lang = (messages[0] && messages[0].language) || "en";
  $("#automated-intro").textContent =
    "Sent to the customer as the page, only inside Messenger's 24-hour window. Default texts are in the workstream's language (" + lang + "); edit one to use your own.";
  $("#automated-error").hidden = true;
  const box = clear($("#automated-messages"));
  for (const m of messages) box.appendChild(automatedRow(m));
}

// ---------- workstream settings (one PATCH of what changed) ----------

// The rules' fields (issue 15): the object, its field, its input (0: off).
const RULES = [
  ["affinity", "days", "#ws-affinity-days"],
  ["affinity", "wait_s", "#ws-affinity-wait"],
  ["affinity", "fallback", "#ws-affinity-fallback"],
  ["timeouts", "customer_s", "#ws-timeout-customer"],
  ["timeouts", "agent_remind_s", "#ws-timeout-remind"],
  ["timeouts", "agent_reoffer_s", "#ws-timeout-reoffer"],
];

// The settings form's fields: the API field, its input, and what the input
// holds when the workstream is as stored.
const SETTINGS = [
  ["name", "#ws-name"],
  ["language", "#ws-language"],
  ["distribution_mode", "#ws-distribution"],
  ["capacity_units", "#ws-capacity"],
  ["default_queue_id", "#ws-default-queue"],
  ["auto_close_after_hours", "#ws-auto-close"],
  ["max_wait_seconds", "#ws-max-wait"],
  ["overflow_queue_id", "#ws-overflow"],
  ["bot_url", "#ws-bot-url"],
  ["human_agent_tag", "#ws-human-agent"],
  ["page_ids", "#ws-pages"],
  ...RULES.map(([group, field, sel]) => [group + "." + field, sel]),
];

function queueOptions(select, selected, none) {
  clear(select);
  if (none) select.appendChild(h("option", { value: "" }, none));
  const list = wsQueues.slice();
  if (selected && !list.some((q) => q.id === selected)) list.push({ id: selected, name: "Queue " + selected });
  for (const q of list) {
    const label = q.name + (q.priority ? " (priority " + q.priority + ")" : "");
    select.appendChild(h("option", { value: q.id }, label));
  }
  select.value = selected || "";
}

function renderSettings() {
  const w = workstream;
  $("#ws-name").value = w.name || "";
  $("#ws-language").value = w.language || "";
  $("#ws-distribution").value = w.distribution_mode || "push";
  $("#ws-capacity").value = String(w.capacity_units ?? "");
  queueOptions($("#ws-default-queue"), w.default_queue_id, null);
  $("#ws-auto-close").value = w.auto_close_after_hours == null ? "" : String(w.auto_close_after_hours);
  $("#ws-max-wait").value = w.max_wait_seconds == null ? "" : String(w.max_wait_seconds);
  queueOptions($("#ws-overflow"), w.overflow_queue_id, "None (no overflow)");
  $("#ws-bot-url").value = w.bot_url || "";
  $("#ws-human-agent").checked = !!w.human_agent_tag;
  for (const [group, field, sel] of RULES) $(sel).value = String((w[group] || {})[field] ?? (field === "fallback" ? "route" : 0));
  // Pages: the workstream's own (a PATCH cannot drop one: add it to another
  // workstream instead) and the account's others, which a tick moves here.
  const box = clear($("#ws-page-list"));
  const mine = new Set(w.page_ids || []);
  const pages = ((current && current.pages) || []).filter((p) => mine.has(p.id) || !["deleting", "deleted"].includes(p.provisioning_status));
  if (pages.length === 0) box.appendChild(h("p", { class: "muted small-text" }, "The account has no pages."));
  for (const p of pages) {
    const id = "ws-page-" + p.id;
    const input = h("input", { type: "checkbox", id, class: "ws-page", value: p.id, disabled: mine.has(p.id) });
    input.checked = mine.has(p.id);
    box.appendChild(
      h(
        "label",
        { class: "check", for: id, title: mine.has(p.id) ? "To take a page out, add it to another workstream." : "Tick to move this page to this workstream." },
        input,
        h("span", {}, (p.name || "Page " + p.page_id) + (mine.has(p.id) ? "" : " — in another workstream; tick to move it here"))
      )
    );
  }
  markInvalid([]);
  $("#ws-settings-error").hidden = true;
}

class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

// wholeNumber reads a number field: null when empty, else a whole number.
function wholeNumber(sel, field) {
  const v = $(sel).value.trim();
  if (v === "") return null;
  if (!/^\d+$/.test(v)) throw new FieldError(field, field + " must be a whole number (or empty).");
  return Number(v);
}

// settingsChanges is the PATCH body: only the fields whose value differs from
// the stored workstream; empty optional fields are null (off).
function settingsChanges() {
  const w = workstream;
  const body = {};
  const name = $("#ws-name").value.trim();
  if (name !== w.name) body.name = name;
  const lang = $("#ws-language").value.trim();
  if (lang !== (w.language || "")) body.language = lang === "" ? null : lang;
  const mode = $("#ws-distribution").value;
  if (mode !== w.distribution_mode) body.distribution_mode = mode;
  const units = wholeNumber("#ws-capacity", "capacity_units");
  if (units !== w.capacity_units) body.capacity_units = units;
  const dq = $("#ws-default-queue").value;
  if (dq && dq !== w.default_queue_id) body.default_queue_id = dq;
  const close = wholeNumber("#ws-auto-close", "auto_close_after_hours");
  if (close !== (w.auto_close_after_hours ?? null)) body.auto_close_after_hours = close;
  const wait = wholeNumber("#ws-max-wait", "max_wait_seconds");
  if (wait !== (w.max_wait_seconds ?? null)) body.max_wait_seconds = wait;
  const overflow = $("#ws-overflow").value || null;
  if (overflow !== (w.overflow_queue_id ?? null)) body.overflow_queue_id = overflow;
  const bot = $("#ws-bot-url").value.trim();
  if (bot !== (w.bot_url || "")) body.bot_url = bot === "" ? null : bot;
  const tag = $("#ws-human-agent").checked;
  if (tag !== !!w.human_agent_tag) body.human_agent_tag = tag;
  // The rules: only the fields that changed, in their objects.
  for (const [group, field, sel] of RULES) {
    const stored = (w[group] || {})[field];
    const v = field === "fallback" ? $(sel).value : wholeNumber(sel, group + "." + field) ?? 0;
    if (v !== stored) body[group] = Object.assign(body[group] || {}, { [field]: v });
  }
  const pages = w.page_ids || [];
  const added = [...document.querySelectorAll("#ws-page-list .ws-page:checked")].map((i) => i.value).filter((id) => !pages.includes(id));
  if (added.length > 0) body.page_ids = pages.concat(added);
  return body;
}

// markInvalid flags the inputs of the fields an error names (the API's
// messages name fields by their JSON names).
function markInvalid(fields) {
  for (const [field, sel] of SETTINGS) {
    const el = $(sel);
    if (fields.includes(field)) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
  }
}

function fieldsNamedIn(message) {
  return SETTINGS.map(([f]) => f).filter((f) => new RegExp("\\b" + f + "\\b").test(message));
}

async function saveSettings(ev) {
  ev.preventDefault();
  if (!workstream) return;
  const w = workstream;
  const err = $("#ws-settings-error");
  err.hidden = true;
  markInvalid([]);
  let body;
  try {
    body = settingsChanges();
  } catch (e) {
    err.textContent = e.message + " Nothing was saved.";
    err.hidden = false;
    markInvalid([e.field]);
    return;
  }
  if (Object.keys(body).length === 0) {
    err.textContent = "Nothing changed.";
    err.hidden = false;
    return;
  }
  const btn = $("#ws-save");
  btn.disabled = true;
  let out;
  try {
    out = await api("PATCH", "/api/v1/workstreams/" + encodeURIComponent(w.id), body);
  } catch (e) {
    if (workstream && workstream.id === w.id) {
      // A 400 changes nothing; after a 500 the change may have been stored
      // (the API wakes the queues after saving).
      err.textContent = e.message + (e.status >= 400 && e.status < 500 ? " Nothing was saved." : " Open the workstream again to see what is stored.");
      err.hidden = false;
      markInvalid(fieldsNamedIn(e.message));
    }
    return;
  } finally {
    btn.disabled = false;
  }
  if (!workstream || workstream.id !== w.id) return;
  workstream = out;
  renderWorkstreamHead();
  renderSettings();
  toast("Workstream settings saved.");
  if (body.page_ids && current) openAccount(current.id);
  else if (current) loadWorkstreams(current.id);
  if ("language" in body) {
    // The default texts of the automated messages follow the language.
    try {
      const messages = await api("GET", "/api/v1/workstreams/" + encodeURIComponent(w.id) + "/automated-messages");
      if (workstream && workstream.id === w.id) renderAutomated(messages);
    } catch {
      // they show the old language until the workstream is opened again
    }
  }
}

// The workstream's attachment policies (PATCH on change; refused → put back).
function renderAttachmentPolicy() {
  const w = workstream;
  const box = clear($("#workstream-attachments"));
  for (const [field, label, hint] of [
    ["customer_attachments", "Accept customers' files", "Off: a customer's file is not kept; the agent sees it was refused and the customer is told."],
    ["agent_attachments", "Agents may send files", "Off: the desk's reply box offers no attachments."],
  ]) {
    const input = h("input", { type: "checkbox", role: "switch", id: "ws-" + field, dataset: { field } });
    input.checked = !!w[field];
    const err = h("p", { class: "form-error", role: "alert", hidden: true });
    input.addEventListener("change", async () => {
      err.hidden = true;
      input.disabled = true;
      try {
        workstream = await api("PATCH", "/api/v1/workstreams/" + encodeURIComponent(w.id), { [field]: input.checked });
        toast(label + ": " + (input.checked ? "on" : "off") + ".");
      } catch (e) {
        input.checked = !input.checked;
        err.textContent = e.message;
        err.hidden = false;
      } finally {
        input.disabled = false;
      }
    });
    box.appendChild(h("div", { class: "switch-row" }, h("label", { class: "switch", for: "ws-" + field }, input, h("span", {}, label)), h("span", { class: "muted small-text" }, hint), err));
  }
}

const AUTOMATED = {
  greeting: ["Greeting", "When the conversation is queued for an agent."],
  agent_joined: ["Agent joined", "When an agent takes the conversation; {agent_name} is the agent's name."],
  agent_ended: ["Agent ended", "When the agent closes the conversation."],
  inactive_closed: ["Closed for inactivity", "When the workstream's inactivity limit closes the conversation."],
  survey: ["Survey", "At close, after the farewell; {survey_url} is the URL template below with {conversation_id} filled in."],
  attachment_refused: ["Attachment refused", "When a customer's file is refused (customer attachments off)."],
  customer_timeout: ["Customer silent", "When the customer has not answered the agent in time and the conversation closes."],
  out_of_hours: ["Out of hours", "When the queue is closed; {next_opening} is when it opens, in the workstream's language."],
  queue_full: ["Queue full", "When the overflow before queueing ends the conversation."],
};

// automatedRow: one kind with its switch, its text (reset to the default when
// overridden) and, for the survey, its URL template. Errors stay in the row.
function automatedRow(m) {
  const [title, when] = AUTOMATED[m.kind] || [m.kind.replace(/_/g, " "), ""];
  const id = "auto-" + m.kind;
  const row = h("div", { class: "auto-msg", dataset: { kind: m.kind } });
  const enabled = h("input", { type: "checkbox", role: "switch", id: id + "-enabled", class: "auto-enabled" });
  enabled.checked = !!m.enabled;
  const text = h("textarea", { id: id + "-text", class: "auto-text", rows: "2", maxlength: "2000", "aria-label": title + " text" });
  text.value = m.text || "";
  const url = m.kind === "survey" ? h("input", { type: "url", id: id + "-url", class: "auto-url mono", spellcheck: "false", autocomplete: "off", placeholder: "https://survey.example.com/s?c={conversation_id}" }) : null;
  if (url) url.value = m.url_template || "";
  const err = h("p", { class: "form-error auto-error", role: "alert", hidden: true });
  const save = h("button", { type: "button", class: "btn primary small auto-save" }, "Save");
  const reset = h("button", { type: "button", class: "btn small auto-reset", hidden: !m.overridden, title: "Default: " + (m.default_text || "") }, "Reset to default");
  append(row, [
    h(
      "div",
      { class: "auto-head" },
      h("label", { class: "switch", for: id + "-enabled" }, enabled, h("span", {}, title)),
      h("span", { class: "pill " + (m.enabled ? "pill-active" : "") }, m.enabled ? "on" : "off"),
      m.overridden ? h("span", { class: "pill pill-custom" }, "custom text") : h("span", { class: "pill" }, "default text")
    ),
    h("p", { class: "muted small-text auto-when" }, when),
    text,
    url ? h("label", { for: id + "-url" }, "Survey URL template") : null,
    url,
    err,
    h("div", { class: "form-actions" }, save, reset)
  ]);

  async function put(body, done) {
    err.hidden = true;
    for (const el of [enabled, save, reset]) el.disabled = true;
    try {
      const out = await api("PUT", "/api/v1/workstreams/" + encodeURIComponent(workstream.id) + "/automated-messages/" + encodeURIComponent(m.kind), body);
      row.replaceWith(automatedRow(out));
      toast(title + ": " + done);
    } catch (e) {
      for (const el of [enabled, save, reset]) el.disabled = false;
      enabled.checked = !!m.enabled;
      err.textContent = e.message;
      err.hidden = false;
    }
  }

  // edits: what the text and URL fields change (the text only when it differs,
  // so saving an untouched default does not turn it into an override).
  function edits() {
    const body = {};
    const t = text.value.trim();
    if (t !== (m.text || "").trim()) body.text = t;
    if (url && url.value.trim() !== (m.url_template || "")) body.url_template = url.value.trim();
    return body;
  }

  enabled.addEventListener("change", () => {
    // Switching on saves the fields too (a survey needs its address).
    const body = Object.assign(enabled.checked ? edits() : {}, { enabled: enabled.checked });
    put(body, enabled.checked ? "on." : "off.");
  });
  save.addEventListener("click", () => {
    const body = edits();
    if (Object.keys(body).length === 0) {
      err.textContent = "Nothing changed.";
      err.hidden = false;
      return;
    }
    put(body, "saved.");
  });
  reset.addEventListener("click", () => put({ text: null }, "back to the default text."));
  return row;
}

// ---------- agents ----------

function renderAgentList() {
  const ul = clear($("#agent-list"));
  for (const a of load(AGENTS_KEY)) {
    ul.appendChild(
      h("li", {}, avatar(a.name, "", "small"), h("div", { class: "grow" }, h("div", { class: "title" }, a.name), h("div", { class: "sub" }, a.email + " · capacity " + a.capacity)))
    );
  }
}

async function createAgent(ev) {
  ev.preventDefault();
  const err = $("#agent-error");
  err.hidden = true;
  const capacity = $("#agent-capacity").value === "" ? undefined : Number($("#agent-capacity").value);
  try {
    const a = await api("POST", "/api/v1/agents", { name: $("#agent-name").value.trim(), email: $("#agent-email").value.trim(), capacity });
    remember(AGENTS_KEY, { id: a.id, name: a.name, email: a.email, capacity: a.capacity });
    $("#agent-name").value = "";
    $("#agent-email").value = "";
    const box = clear($("#agent-token"));
    box.hidden = false;
    box.className = "secret-box";
    box.append(
      h("p", {}, h("b", {}, a.name), " can now sign in to the agent desk with this token. Copy it now: it is shown only once."),
      copyField("Agent token", a.token, { secret: true })
    );
    renderAgentList();
  } catch (e) {
    err.hidden = false;
    err.textContent = e.message;
  }
}

// ---------- toasts ----------

function toast(text, kind) {
  const el = h("div", { class: "toast toast-" + (kind || "info"), role: kind === "error" ? "alert" : "status" }, text);
  $("#toasts").appendChild(el);
  setTimeout(() => el.remove(), 4000);
}

// ---------- wiring ----------

async function boot() {
  $("#signin-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", () => signOut("You are signed out."));
  $("#account-form").addEventListener("submit", createAccount);
  $("#open-account").addEventListener("submit", (e) => {
    e.preventDefault();
    openAccount($("#open-id").value);
    $("#open-id").value = "";
  });
  $("#refresh-account").addEventListener("click", () => current && openAccount(current.id));
  $("#page-form").addEventListener("submit", createPage);
  $("#close-workstream").addEventListener("click", closeWorkstream);
  $("#ws-settings").addEventListener("submit", saveSettings);
  $("#ws-discard").addEventListener("click", () => workstream && renderSettings());
  $("#agent-form").addEventListener("submit", createAgent);
  token = sessionStorage.getItem(TOKEN_KEY) || "";
  if (!token) {
    signOut("");
    return;
  }
  try {
    await check(token);
    showApp();
  } catch (e) {
    signOut(e instanceof APIError && e.status === 401 ? "" : e.message);
  }
}

// A module runs once the document is parsed.
boot();
