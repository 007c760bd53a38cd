// Helpers shared by the agent desk and the admin console. No framework: DOM
// nodes are built with h(), and every piece of text goes in as a text node, so
// nothing a customer (or anyone) typed is ever parsed as HTML. An ES module:
// each page imports what it uses.

// h("div", {class: "x", onclick: fn}, "text", child, [more]) builds an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "text") el.textContent = v;
    else if (k === "href" || k === "src") {
      const url = safeURL(v);
      if (url) el.setAttribute(k, url);
    } else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// safeURL lets through only http(s) and same-origin URLs, never javascript:.
export function safeURL(v) {
  try {
    const u = new URL(String(v), location.href);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : "";
  } catch {
    return "";
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// renderKeyed brings parent's children up to one per item, in the items'
// order, keyed by their data-id: an item's element is made once (make) and
// updated in place from then on (update), and moved only when the order
// changed. An element the pointer is pressing on must stay on the page: had a
// redraw replaced it between the press and the release, the browser would fire
// no click at all.
export function renderKeyed(parent, items, make, update) {
  const old = new Map([...parent.children].map((el) => [el.dataset.id, el]));
  let next = parent.firstElementChild;
  for (const item of items) {
    let el = old.get(item.id);
    old.delete(item.id);
    if (!el) el = make(item);
    update(el, item);
    if (el !== next) parent.insertBefore(el, next);
    else next = next.nextElementSibling;
  }
  for (const el of old.values()) el.remove();
}

export function $(sel, root) {
  return (root || document).querySelector(sel);
}

// signinToken is the token typed in a page's sign-in form (#token), trimmed;
// when there is none, "" and #signin-error says emptyMessage.
export function signinToken(emptyMessage) {
  const token = $("#token").value.trim();
  if (!token) {
    const err = $("#signin-error");
    err.hidden = false;
    err.textContent = emptyMessage;
  }
  return token;
}

export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...rest] = part.trim().split("=");
    if (k === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// request calls the JSON API. opts.bearer sends a bearer token; otherwise the
// desk's session cookie goes along and unsafe methods carry the CSRF header.
export async function request(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.bearer) headers.Authorization = "Bearer " + opts.bearer;
  else if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRF-Token"] = cookie("fbc_csrf");
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new APIError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new APIError(resp.status, err.code || "http_" + resp.status, err.message || "The server answered " + resp.status + ".");
  }
  return data === null ? {} : data;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit" });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });

export function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

export function fmtTime(s) {
  return s ? timeFmt.format(new Date(s)) : "";
}

export function fmtDateTime(s) {
  return s ? dateTimeFmt.format(new Date(s)) : "";
}

// fmtWhen is short: a time today, a date and time otherwise.
export function fmtWhen(s) {
  if (!s) return "";
  const d = new Date(s);
  return sameDay(d, new Date()) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function fmtDay(s) {
  const d = new Date(s);
  const now = new Date();
  if (sameDay(d, now)) return "Today";
  const y = new Date(now);
  y.setDate(now.getDate() - 1);
  if (sameDay(d, y)) return "Yesterday";
  return dayFmt.format(d);
}

// fmtDuration: "23h 10m", "12m", "2d 4h".
export function fmtDuration(ms) {
  const m = Math.max(0, Math.floor(ms / 60000));
  const d = Math.floor(m / 1440);
  const hh = Math.floor((m % 1440) / 60);
  const mm = m % 60;
  if (d > 0) return d + "d " + hh + "h";
  if (hh > 0) return hh + "h " + mm + "m";
  return mm + "m";
}

function initials(name) {
  const parts = String(name || "?").replace(/[^\p{L}\p{N} ]/gu, " ").trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return "?";
  return (parts[0][0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

// avatar shows a picture, falling back to initials on a colour derived from the name.
export function avatar(name, pic, size) {
  const el = h("span", { class: "avatar " + (size || ""), "aria-hidden": "true" });
  let hash = 0;
  for (const ch of String(name || "")) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  el.classList.add("hue-" + (hash % 8));
  el.textContent = initials(name);
  const url = pic ? safeURL(pic) : "";
  if (url) {
    const img = h("img", { src: url, alt: "", referrerpolicy: "no-referrer" });
    img.addEventListener("load", () => {
      el.textContent = "";
      el.appendChild(img);
      el.classList.add("has-img");
    });
    img.addEventListener("error", () => img.remove());
  }
  return el;
}

// copy puts text on the clipboard, with a fallback for non-secure origins.
export async function copy(text, button) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    const ta = h("textarea", { class: "offscreen", readonly: true });
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
  }
  if (button) {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = ok ? "Copied" : "Press Ctrl+C";
    button.classList.toggle("copied", ok);
    setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1500);
  }
  return ok;
}

// copyField: a read-only value with a copy button.
export function copyField(label, value, opts) {
  opts = opts || {};
  const input = h("input", { type: "text", readonly: true, class: "mono", "aria-label": label, spellcheck: "false" });
  input.value = value || "";
  input.addEventListener("focus", () => input.select());
  const btn = h("button", { type: "button", class: "btn small", "data-copy": label }, "Copy");
  btn.addEventListener("click", () => copy(input.value, btn));
  return h("div", { class: "field copy-field" + (opts.secret ? " secret" : "") }, h("label", {}, label), h("div", { class: "copy-row" }, input, btn));
}

export function statusPill(status) {
  return h("span", { class: "pill pill-" + String(status || "unknown").replace(/[^a-z_]/g, "") }, String(status || "unknown").replace(/_/g, " "));
}
