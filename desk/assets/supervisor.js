// The supervisor page (issue 14, minimal): the conversations of the queues the
// signed-in supervisor watches, each with its transcript. It uses the desk's
// session cookie; the live floor view comes later.
import { h, $, clear, request, fmtDateTime, statusPill } from "/desk/assets/common.js";

async function load() {
  const status = $("#sup-status");
  const table = $("#sup-table");
  status.textContent = "Loading…";
  let data;
  try {
    data = await request("GET", "/api/v1/supervisor/conversations");
  } catch (err) {
    table.hidden = true;
    clear(status);
    if (err.status === 401) {
      status.append("Sign in to the ", h("a", { href: "/desk" }, "agent desk"), " first, then come back.");
    } else {
      status.textContent = err.message;
    }
    return;
  }
  const rows = clear($("#sup-rows"));
  for (const c of data.conversations) {
    const link = (format, label) =>
      h("a", { href: "/api/v1/conversations/" + encodeURIComponent(c.id) + "/transcript?format=" + format, target: "_blank", rel: "noopener" }, label);
    rows.append(
      h("tr", { dataset: { id: c.id } },
        h("td", {}, c.customer.name || c.customer.psid),
        h("td", {}, statusPill(c.status)),
        h("td", { class: "mono" }, c.queue_id || ""),
        h("td", { class: "mono" }, c.agent_id || "—"),
        h("td", {}, fmtDateTime(c.opened_at)),
        h("td", {}, link("html", "Print"), " · ", link("text", "Text"), " · ", link("json", "JSON")),
      ),
    );
  }
  const queues = data.all_queues ? "every queue" : data.queue_ids.length + " queue(s)";
  status.textContent = data.conversations.length
    ? data.conversations.length + " conversation(s) in " + queues + "."
    : "No conversations in " + queues + ".";
  table.hidden = data.conversations.length === 0;
}

$("#refresh").addEventListener("click", load);
load();
