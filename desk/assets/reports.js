// The service KPIs page (/supervisor/reports, issue 14): GET /api/v1/reports/kpis
// drawn as time series and per-group bars with Chart.js (vendored unchanged in
// vendor/, README "Libraries"), plus the rows as a table and as CSV. It uses the
// desk's session cookie: a supervisor sees its queues.
import { h, $, clear, request } from "./common.js";
import "./vendor/chart.umd.min.js"; // a UMD bundle: it sets globalThis.Chart

const Chart = globalThis.Chart;
const colors = { incoming: "#2f6fed", served: "#1f9d55", abandoned: "#d93843", wait: "#c27803", answer: "#6d4ae0", aht: "#0e8a9a" };
const groupNames = { queue: "queue", agent: "agent", page: "page", workstream: "workstream" };
const charts = {};

// The form's days are UTC days; "to" is inclusive, the API's to exclusive.
function day(d) {
  return d.toISOString().slice(0, 10);
}

function readForm() {
  const params = new URLSearchParams(location.search);
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  $("#kpi-from").value = params.get("from") || day(weekAgo);
  $("#kpi-to").value = params.get("to") || day(today);
  $("#kpi-by").value = params.get("by") || "queue";
  $("#kpi-interval").value = params.get("interval") || "day";
}

function query(format) {
  const from = new Date($("#kpi-from").value + "T00:00:00Z");
  const to = new Date(new Date($("#kpi-to").value + "T00:00:00Z").getTime() + 86400000);
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), by: $("#kpi-by").value, interval: $("#kpi-interval").value });
  if (format) q.set("format", format);
  return { from, to, url: "/api/v1/reports/kpis?" + q.toString() };
}

// buckets lists every bucket start of the range (in ms), so that quiet hours or
// days show as zero instead of being skipped.
function buckets(from, to, interval) {
  const step = interval === "hour" ? 3600000 : 86400000;
  const out = [];
  for (let t = from.getTime(); t < to.getTime() && out.length < 5000; t += step) out.push(t);
  return out;
}

function label(t, interval) {
  const iso = new Date(t).toISOString();
  return interval === "hour" ? iso.slice(5, 16).replace("T", " ") : iso.slice(0, 10);
}

// total sums rows: counts add up; averages and rates are weighted by what they
// average over (the row's counts).
function total(rows) {
  const t = { incoming: 0, served: 0, abandoned: 0, first_answered: 0, answered: 0, handled: 0, transferred: 0, offers: 0, declined: 0, offer_timeouts: 0, wait: 0, answer: 0, inTarget: 0, handle: 0 };
  for (const r of rows) {
    for (const k of ["incoming", "served", "abandoned", "first_answered", "answered", "handled", "transferred", "offers", "declined", "offer_timeouts"]) t[k] += r[k];
    t.wait += r.first_wait_avg_s * r.first_answered;
    t.answer += r.speed_to_answer_avg_s * r.answered;
    t.inTarget += r.service_level * r.answered;
    t.handle += r.aht_s * r.handled;
  }
  const div = (a, b) => (b ? a / b : 0);
  return {
    ...t,
    first_wait_avg_s: div(t.wait, t.first_answered),
    speed_to_answer_avg_s: div(t.answer, t.answered),
    service_level: div(t.inTarget, t.answered),
    aht_s: div(t.handle, t.handled),
    transfer_rate: div(t.transferred, t.served),
    decline_rate: div(t.declined, t.offers),
    offer_timeout_rate: div(t.offer_timeouts, t.offers),
  };
}

function groupBy(rows, keyOf) {
  const m = new Map();
  for (const r of rows) {
    const k = keyOf(r);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(r);
  }
  return m;
}

const secs = (v) => (v >= 90 ? (v / 60).toFixed(1) + " min" : Math.round(v) + " s");
const pct = (v) => Math.round(v * 100) + "%";

// plot draws one dataset per spec [label, value of a point, colour, y axis?]
// over points, replacing the canvas's chart (Chart.js keeps one per canvas).
function plot(id, type, labels, points, specs, options) {
  if (charts[id]) charts[id].destroy();
  const datasets = specs.map(([name, valueOf, color, axis]) => ({
    label: name, data: points.map(valueOf), borderColor: color, backgroundColor: color, tension: 0.2, pointRadius: 2, yAxisID: axis || "y",
  }));
  charts[id] = new Chart($("#" + id), {
    type,
    data: { labels, datasets },
    options: { responsive: true, maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false }, ...options },
  });
}

// volumeSpecs draw incoming, served and abandoned, over time and per group.
const volumeSpecs = [
  ["Incoming", (t) => t.incoming, colors.incoming],
  ["Served", (t) => t.served, colors.served],
  ["Abandoned", (t) => t.abandoned, colors.abandoned],
];

function render(data, from, to) {
  const interval = data.interval;
  const rows = data.rows;
  const all = total(rows);
  clear($("#kpi-tiles")).append(
    ...[
      ["Incoming", all.incoming],
      ["Served", all.served],
      ["Abandoned", all.abandoned],
      ["First wait", secs(all.first_wait_avg_s)],
      ["Speed to answer", secs(all.speed_to_answer_avg_s)],
      ["Service level", pct(all.service_level)],
      ["Average handle time", secs(all.aht_s)],
      ["Transfer rate", pct(all.transfer_rate)],
      ["Decline rate", pct(all.decline_rate)],
      ["Offer timeout rate", pct(all.offer_timeout_rate)],
    ].map(([name, value]) => h("div", { class: "kpi-tile" }, h("div", { class: "value" }, String(value)), h("div", { class: "label" }, name))),
  );

  // Time series: the range's every bucket, the groups summed.
  const starts = buckets(from, to, interval);
  const perBucket = groupBy(rows, (r) => Date.parse(r.bucket));
  const series = starts.map((b) => total(perBucket.get(b) || []));
  const labels = starts.map((b) => label(b, interval));
  const counts = { y: { beginAtZero: true, ticks: { precision: 0 } } };
  plot("chart-volume", "line", labels, series, volumeSpecs, { scales: counts });
  plot("chart-service", "line", labels, series, [
    ["Service level (%)", (s) => (s.answered ? Math.round(s.service_level * 1000) / 10 : null), colors.served],
    ["Speed to answer (s)", (s) => (s.answered ? Math.round(s.speed_to_answer_avg_s) : null), colors.answer, "seconds"],
  ], {
    spanGaps: true,
    scales: {
      y: { beginAtZero: true, max: 100, title: { display: true, text: "%" } },
      seconds: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "s" } },
    },
  });

  // Bars: one per group over the whole range.
  const perGroup = [...groupBy(rows, (r) => r.key).entries()].map(([key, rs]) => ({ name: rs[0].name || key, ...total(rs) }));
  const names = perGroup.map((g) => g.name);
  const what = groupNames[data.by] || data.by;
  $("#groups-title").textContent = "Conversations per " + what;
  $("#times-title").textContent = "Wait and handle times per " + what;
  plot("chart-groups", "bar", names, perGroup, volumeSpecs, { scales: counts });
  plot("chart-times", "bar", names, perGroup, [
    ["First wait (s)", (g) => Math.round(g.first_wait_avg_s), colors.wait],
    ["Speed to answer (s)", (g) => Math.round(g.speed_to_answer_avg_s), colors.answer],
    ["Average handle time (s)", (g) => Math.round(g.aht_s), colors.aht],
  ], { scales: { y: { beginAtZero: true, title: { display: true, text: "s" } } } });

  const body = clear($("#kpi-rows"));
  for (const r of rows) {
    body.append(
      h("tr", { dataset: { key: r.key } },
        h("td", {}, label(Date.parse(r.bucket), interval)),
        h("td", {}, r.name || r.key),
        h("td", {}, String(r.incoming)),
        h("td", {}, String(r.served)),
        h("td", {}, String(r.abandoned)),
        h("td", {}, secs(r.first_wait_avg_s)),
        h("td", {}, secs(r.speed_to_answer_avg_s)),
        h("td", {}, pct(r.service_level)),
        h("td", {}, secs(r.aht_s)),
        h("td", {}, pct(r.transfer_rate)),
        h("td", {}, pct(r.decline_rate)),
        h("td", {}, pct(r.offer_timeout_rate)),
      ),
    );
  }
}

async function load() {
  const status = $("#kpi-status");
  const { from, to, url } = query();
  $("#kpi-csv").setAttribute("href", query("csv").url);
  history.replaceState(null, "", "?" + new URLSearchParams(new FormData($("#kpi-form"))).toString());
  status.textContent = "Loading…";
  let data;
  try {
    data = await request("GET", url);
  } catch (err) {
    clear(status);
    if (err.status === 401) status.append("Sign in to the ", h("a", { href: "/desk" }, "agent desk"), " first, then come back.");
    else status.textContent = err.message;
    return;
  }
  render(data, from, to);
  status.textContent = data.rows.length ? data.rows.length + " row(s)." : "No conversations entered your queues in this range.";
  document.body.dataset.loaded = "true";
}

$("#kpi-form").addEventListener("submit", (e) => {
  e.preventDefault();
  load();
});
readForm();
load();
