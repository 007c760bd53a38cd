//go:build integration

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"fbchannel/simulator"
	"fbchannel/workflows/contract"
)

// Issue 4: workstreams, routing rules and work distribution, through the HTTP API
// against Postgres, a Temporal dev server and the simulator.

// ---- helpers (prefixed rt, so they do not collide with other test files) ----

func (st *stack) rtWorkstreamID(ch channel) string {
	st.t.Helper()
	var p struct {
		WorkstreamID string `json:"workstream_id"`
	}
	if code := st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &p); code != 200 || p.WorkstreamID == "" {
		st.t.Fatalf("page %s: %d %+v", ch.PageUUID, code, p)
	}
	return p.WorkstreamID
}

func (st *stack) rtQueue(accountID, name string, priority int) string {
	st.t.Helper()
	var q map[string]any
	if code := st.call("POST", "/api/v1/queues", st.adminToken, map[string]any{"account_id": accountID, "name": name, "priority": priority}, &q); code != 201 {
		st.t.Fatalf("create queue %s: %d %v", name, code, q)
	}
	return q["id"].(string)
}

// rtKeywordQueues makes two queues on ch's account, the first of priority
// firstPriority and the second of priority 0, and routes a message containing
// a queue's name in lower case to that queue.
func (st *stack) rtKeywordQueues(ch channel, first string, firstPriority int, second string) (string, string) {
	st.t.Helper()
	q1, q2 := st.rtQueue(ch.AccountID, first, firstPriority), st.rtQueue(ch.AccountID, second, 0)
	st.rtRules(st.rtWorkstreamID(ch), rtRule(first, q1, rtCond("message.text", "contains", strings.ToLower(first))),
		rtRule(second, q2, rtCond("message.text", "contains", strings.ToLower(second))))
	return q1, q2
}

// rtMember creates an agent who is a member of the given queues.
func (st *stack) rtMember(name string, capacity int, queueIDs ...string) agent {
	st.t.Helper()
	a := st.createAgent(name, capacity)
	for _, q := range queueIDs {
		st.rtJoin(q, a)
	}
	return a
}

// rtWaits has the customer psid say text and waits for the conversation to
// wait in queueID.
func (st *stack) rtWaits(ch channel, psid, text, queueID string) {
	st.t.Helper()
	st.customerSays(ch, psid, text, "")
	st.rtWait(psid, "waiting", waitingIn(queueID))
}

func (st *stack) rtJoin(queueID string, a agent) {
	st.t.Helper()
	if code := st.call("PUT", "/api/v1/queues/"+queueID+"/members/"+a.ID, st.adminToken, nil, nil); code != 200 {
		st.t.Fatalf("join queue: %d", code)
	}
}

func (st *stack) rtLeave(queueID string, a agent) {
	st.t.Helper()
	if code := st.call("DELETE", "/api/v1/queues/"+queueID+"/members/"+a.ID, st.adminToken, nil, nil); code != 200 {
		st.t.Fatalf("leave queue: %d", code)
	}
}

func (st *stack) rtPatch(path string, body any) map[string]any {
	st.t.Helper()
	var out map[string]any
	if code := st.call("PATCH", path, st.adminToken, body, &out); code != 200 {
		st.t.Fatalf("PATCH %s %v: %d %v", path, body, code, out)
	}
	return out
}

func rtRule(name, queueID string, conditions ...map[string]any) map[string]any {
	if conditions == nil {
		conditions = []map[string]any{}
	}
	return map[string]any{"name": name, "queue_id": queueID, "conditions": conditions}
}

func rtCond(field, operator string, value any) map[string]any {
	return map[string]any{"field": field, "operator": operator, "value": value}
}

func (st *stack) rtRules(workstreamID string, rules ...map[string]any) {
	st.t.Helper()
	var out map[string]any
	if code := st.call("PUT", "/api/v1/workstreams/"+workstreamID+"/routing-rules", st.adminToken, map[string]any{"rules": rules}, &out); code != 200 {
		st.t.Fatalf("save rules: %d %v", code, out)
	}
}

// rtConv is a customer's latest conversation, read from the database.
type rtConv struct {
	ID, Status, QueueID, AgentID string
	Units                        int
}

func (st *stack) rtConversation(psid string) (rtConv, bool) {
	st.t.Helper()
	var c rtConv
	err := st.db.QueryRow(`SELECT c.id, c.status, coalesce(c.queue_id::text, ''), coalesce(c.agent_id::text, ''), c.units
		FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE cu.psid = $1 ORDER BY c.opened_at DESC LIMIT 1`, psid).
		Scan(&c.ID, &c.Status, &c.QueueID, &c.AgentID, &c.Units)
	return c, err == nil
}

func (st *stack) rtWait(psid, what string, ok func(rtConv) bool) rtConv {
	st.t.Helper()
	var c rtConv
	st.eventually(psid+" "+what, 30*time.Second, func() bool {
		var found bool
		c, found = st.rtConversation(psid)
		return found && ok(c)
	})
	return c
}

func waitingIn(queueID string) func(rtConv) bool {
	return func(c rtConv) bool { return c.Status == "waiting" && c.QueueID == queueID }
}

func routed(c rtConv) bool { return c.QueueID != "" }

func assignedTo(a agent) func(rtConv) bool {
	return func(c rtConv) bool { return c.Status == "assigned" && c.AgentID == a.ID }
}

func (st *stack) rtClose(a agent, conversationID string) {
	st.t.Helper()
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conversationID+"/close", a.Token, nil, &out); code != 200 {
		st.t.Fatalf("close %s: %d %v", conversationID, code, out)
	}
}

// rtLoad is an agent's load in units, from the database.
func (st *stack) rtLoad(a agent) int {
	st.t.Helper()
	var n int
	if err := st.db.QueryRow(`SELECT coalesce(sum(units), 0) FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, a.ID).Scan(&n); err != nil {
		st.t.Fatal(err)
	}
	return n
}

// rtPost is a POST that is safe from any goroutine (no t.Fatal).
func (st *stack) rtPost(path, token string, body any) (int, map[string]any, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", st.api.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func errorMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// conversationState asks the conversation's workflow what it knows.
func conversationState(ctx context.Context, pageID, psid string) (contract.ConversationState, error) {
	var state contract.ConversationState
	v, err := temporalClient.QueryWorkflow(ctx, contract.ConversationWorkflowID(pageID, psid), "", contract.QueryState)
	if err == nil {
		err = v.Get(&state)
	}
	return state, err
}

// ---- workstreams ----

// Workstream settings: created with the page, changed field by field, and an
// invalid request (any bad field) is a 400 that changes nothing.
func TestWorkstreamSettings(t *testing.T) {
	st, ch := newPageStack(t)
	wsID := st.rtWorkstreamID(ch)
	path := "/api/v1/workstreams/" + wsID

	var ws map[string]any
	if code := st.call("GET", path, st.adminToken, nil, &ws); code != 200 {
		t.Fatalf("get workstream: %d", code)
	}
	if ws["distribution_mode"] != "push" || ws["capacity_units"] != 1.0 || ws["default_queue_id"] != ch.QueueID ||
		ws["customer_attachments"] != true || ws["agent_attachments"] != true || ws["max_wait_seconds"] != nil || ws["bot_url"] != nil ||
		fmt.Sprint(ws["page_ids"]) != "["+ch.PageUUID+"]" {
		t.Fatalf("default workstream: %v", ws)
	}

	overflow := st.rtQueue(ch.AccountID, "Overflow", 0)
	ws = st.rtPatch(path, map[string]any{
		"name": "Support NL", "language": "nl_NL", "distribution_mode": "pick", "capacity_units": 2,
		"max_wait_seconds": 300, "overflow_queue_id": overflow, "auto_close_after_hours": 48,
		"customer_attachments": false, "agent_attachments": false, "human_agent_tag": true,
	})
	if ws["name"] != "Support NL" || ws["language"] != "nl-NL" || ws["distribution_mode"] != "pick" || ws["capacity_units"] != 2.0 ||
		ws["max_wait_seconds"] != 300.0 || ws["overflow_queue_id"] != overflow || ws["auto_close_after_hours"] != 48.0 ||
		ws["customer_attachments"] != false || ws["agent_attachments"] != false || ws["human_agent_tag"] != true {
		t.Fatalf("patched workstream: %v", ws)
	}

	// Another account's queue is not this workstream's to use.
	var other struct{ ID string }
	st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Other", "app_id": "app-x", "app_secret": "s"}, &other)
	foreign := st.rtQueue(other.ID, "Foreign", 0)

	for _, bad := range []map[string]any{
		{"name": "Renamed", "language": "not a language"},
		{"name": "Renamed", "distribution_mode": "round-robin"},
		{"name": "Renamed", "capacity_units": 0},
		{"name": "Renamed", "capacity_units": 101},
		{"name": "Renamed", "max_wait_seconds": nil}, // overflow queue without a wait
		{"name": "Renamed", "max_wait_seconds": -5},
		{"name": "Renamed", "overflow_queue_id": foreign},
		{"name": "Renamed", "default_queue_id": "not-a-uuid"},
		{"name": "Renamed", "page_ids": []string{}}, // the page would have no workstream
		{"name": "Renamed", "auto_close_after_hours": 0},
		{"name": "Renamed", "bot_url": "ftp://bot.example.com"},
		{"name": "Renamed", "colour": "blue"},
		{"name": "   "},
		{"name": "Renamed", "capacity_units": "two"},
		{"name": "Renamed", "human_agent_tag": nil},
	} {
		var out map[string]any
		if code := st.call("PATCH", path, st.adminToken, bad, &out); code != 400 || errorCode(out) == "" || errorMessage(out) == "" {
			t.Errorf("PATCH %v: %d %v, want 400 with a message", bad, code, out)
		}
	}
	var after map[string]any
	st.call("GET", path, st.adminToken, nil, &after)
	if fmt.Sprint(after) != fmt.Sprint(ws) {
		t.Fatalf("a refused PATCH changed the workstream:\nbefore %v\nafter  %v", ws, after)
	}

	// null clears what may be empty.
	ws = st.rtPatch(path, map[string]any{"max_wait_seconds": nil, "overflow_queue_id": nil, "auto_close_after_hours": nil, "language": nil})
	if ws["max_wait_seconds"] != nil || ws["overflow_queue_id"] != nil || ws["auto_close_after_hours"] != nil || ws["language"] != "" {
		t.Fatalf("cleared workstream: %v", ws)
	}

	// A new workstream takes the page (a page belongs to one workstream) and gets a queue.
	var created map[string]any
	if code := st.call("POST", "/api/v1/workstreams", st.adminToken, map[string]any{
		"account_id": ch.AccountID, "name": "Dutch", "language": "nl", "page_ids": []string{ch.PageUUID},
	}, &created); code != 201 {
		t.Fatalf("create workstream: %d %v", code, created)
	}
	if created["default_queue_id"] == "" || created["default_queue_id"] == ch.QueueID || fmt.Sprint(created["page_ids"]) != "["+ch.PageUUID+"]" ||
		created["distribution_mode"] != "push" || created["language"] != "nl" {
		t.Fatalf("created workstream: %v", created)
	}
	if got := st.rtWorkstreamID(ch); got != created["id"] {
		t.Fatalf("page's workstream %s, want the new one %s", got, created["id"])
	}
	st.call("GET", path, st.adminToken, nil, &after)
	if fmt.Sprint(after["page_ids"]) != "[]" {
		t.Fatalf("old workstream still lists the page: %v", after)
	}
	var list []map[string]any
	if code := st.call("GET", "/api/v1/accounts/"+ch.AccountID+"/workstreams", st.adminToken, nil, &list); code != 200 || len(list) != 2 {
		t.Fatalf("account workstreams: %d %v", code, list)
	}
	for _, bad := range []map[string]any{
		{"account_id": ch.AccountID},
		{"name": "No account"},
		{"account_id": uuid.NewString(), "name": "Unknown account"},
		{"account_id": ch.AccountID, "name": "Foreign page", "page_ids": []string{uuid.NewString()}},
	} {
		if code := st.call("POST", "/api/v1/workstreams", st.adminToken, bad, nil); code != 400 {
			t.Errorf("POST workstream %v: %d, want 400", bad, code)
		}
	}
	if n := st.count("workstreams", "true"); n != 2 {
		t.Fatalf("%d workstreams after refused creations, want 2", n)
	}
	if code := st.call("GET", "/api/v1/workstreams/"+uuid.NewString(), st.adminToken, nil, nil); code != 404 {
		t.Fatalf("unknown workstream: %d", code)
	}
}

// ---- routing rules ----

// A Dutch-locale customer lands in the Dutch queue, a message containing "refund" in
// the billing queue, an order number (regex) in the orders queue, a customer linked
// to a contact in the contacts queue, anything else in the fallback (default) queue.
// Invalid rule sets are refused at save time with 400 and nothing saved.
func TestRoutingRulesChooseTheQueue(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	dutch := st.rtQueue(ch.AccountID, "Dutch", 0)
	billing := st.rtQueue(ch.AccountID, "Billing", 0)
	orders := st.rtQueue(ch.AccountID, "Orders", 0)
	known := st.rtQueue(ch.AccountID, "Known customers", 0)
	good := []map[string]any{
		rtRule("Dutch speakers", dutch, rtCond("customer.locale", "is", "nl")),
		rtRule("Refunds", billing, rtCond("message.text", "contains", "refund")),
		rtRule("Order numbers", orders, rtCond("message.text", "matches", `(?i)\border\s+#?\d{4,}`)),
		rtRule("Contacts on this page", known, rtCond("customer.linked_to_contact", "is", true), rtCond("page", "is", ch.PageUUID)),
	}
	st.rtRules(ws, good...)

	var other struct{ ID string }
	st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Other", "app_id": "app-y", "app_secret": "s"}, &other)
	foreign := st.rtQueue(other.ID, "Foreign", 0)
	for _, bad := range []struct {
		rules []map[string]any
		says  string
	}{
		{[]map[string]any{good[0], rtRule("Broken", billing, rtCond("message.text", "matches", "(refund"))}, "rule 2"},
		{[]map[string]any{rtRule("Broken", billing, rtCond("message.text", "matches", "(refund"))}, "regular expression"},
		{[]map[string]any{rtRule("Age", billing, rtCond("customer.age", "is", "42"))}, "unknown field"},
		{[]map[string]any{rtRule("Op", billing, rtCond("message.text", "equals", "refund"))}, "operator"},
		{[]map[string]any{rtRule("Locale", dutch, rtCond("customer.locale", "is", "dutch"))}, "BCP 47"},
		{[]map[string]any{rtRule("Linked", known, rtCond("customer.linked_to_contact", "is", "yes"))}, "true or false"},
		{[]map[string]any{rtRule("Empty", billing, rtCond("message.text", "contains", ""))}, "non-empty"},
		{[]map[string]any{rtRule("Foreign", foreign, rtCond("message.text", "contains", "x"))}, "queue"},
		{[]map[string]any{rtRule("No queue", "", rtCond("message.text", "contains", "x"))}, "queue_id"},
		{[]map[string]any{rtRule("Page", billing, rtCond("page", "is", "999999"))}, "page"},
		{[]map[string]any{{"name": "Extra", "queue_id": billing, "conditions": []any{}, "priority": 1}}, "unknown field"},
	} {
		var out map[string]any
		code := st.call("PUT", "/api/v1/workstreams/"+ws+"/routing-rules", st.adminToken, map[string]any{"rules": bad.rules}, &out)
		if code != 400 || !strings.Contains(errorMessage(out), bad.says) {
			t.Errorf("rules %v: %d %v, want 400 saying %q", bad.rules, code, out, bad.says)
		}
	}
	var saved struct {
		Rules []struct {
			Name       string
			QueueID    string `json:"queue_id"`
			Conditions []map[string]any
		}
	}
	st.call("GET", "/api/v1/workstreams/"+ws+"/routing-rules", st.adminToken, nil, &saved)
	if len(saved.Rules) != 4 || saved.Rules[0].QueueID != dutch || saved.Rules[1].Name != "Refunds" || saved.Rules[0].Conditions[0]["value"] != "nl" {
		t.Fatalf("saved rules changed by refused saves: %+v", saved)
	}

	// A customer linked to a contact (the link lives on the customer row).
	contactID := uuid.NewString()
	var hasContacts bool
	_ = st.db.QueryRow(`SELECT to_regclass('contacts') IS NOT NULL`).Scan(&hasContacts)
	if hasContacts {
		if _, err := st.db.Exec(`INSERT INTO contacts (id, name) VALUES ($1, 'Known Person')`, contactID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.db.Exec(`INSERT INTO customers (id, page_id, psid, contact_id) VALUES ($1, $2, '3100000000000005', $3)`,
		uuid.NewString(), ch.PageID, contactID); err != nil {
		t.Fatal(err)
	}

	st.sim.RegisterProfile("3100000000000001", simulator.ProfileData{FirstName: "Anke", LastName: "de Vries", Locale: "nl_NL"})
	st.sim.RegisterProfile("3100000000000002", simulator.ProfileData{FirstName: "Bob", Locale: "en_US"})
	st.sim.RegisterProfile("3100000000000004", simulator.ProfileData{FirstName: "Wim", Locale: "nl_BE"})
	cases := []struct {
		psid, text, queue, why string
	}{
		{"3100000000000001", "Hallo, waar blijft mijn pakket?", dutch, "nl_NL locale"},
		{"3100000000000002", "I would like a REFUND for the broken lamp", billing, "contains refund (any case)"},
		{"3100000000000003", "Where is order #123456?", orders, "order number regex"},
		{"3100000000000004", "refund alstublieft", dutch, "first match wins: nl_BE before refund"},
		{"3100000000000005", "Hi again", known, "linked to a contact, on this page"},
		{"3100000000000006", "Hello there", ch.QueueID, "no rule: the default queue"},
		{"3100000000000007", "my orders are great", ch.QueueID, "no order number, no rule"},
	}
	for _, c := range cases {
		st.customerSays(ch, c.psid, c.text, "")
	}
	for _, c := range cases {
		got := st.rtWait(c.psid, "routed", routed)
		if got.QueueID != c.queue || got.Status != "waiting" {
			t.Errorf("%s (%s): queue %s status %s, want queue %s", c.psid, c.why, got.QueueID, got.Status, c.queue)
		}
	}
}

// ---- assignment order ----

// An agent in two queues takes the oldest conversation of its highest-priority
// queue first, then the rest in FIFO order, each the moment it closes the previous
// one (no new customer message).
func TestAgentTakesHigherPriorityQueueFirstThenFIFO(t *testing.T) {
	st, ch := newPageStack(t)
	urgent, later := st.rtKeywordQueues(ch, "Urgent", 10, "Later")
	x := st.rtMember("xavier", 1, urgent, later)

	st.rtWaits(ch, "3200000000000001", "later: first", later)
	st.rtWaits(ch, "3200000000000002", "later: second", later)
	st.rtWaits(ch, "3200000000000003", "urgent: third", urgent)

	events := st.openEvents(x, "")
	st.setPresence(x, "available")
	order := []string{"3200000000000003", "3200000000000001", "3200000000000002"}
	for i, psid := range order {
		ev := events.next(t, "conversation.assigned", 30*time.Second)
		c, _ := st.rtConversation(psid)
		if ev.Data["conversation_id"] != c.ID {
			t.Fatalf("assignment %d: got %v, want %s's conversation %s", i+1, ev.Data["conversation_id"], psid, c.ID)
		}
		if n := st.count("conversations", "status = 'assigned' AND agent_id = $1", x.ID); n != 1 {
			t.Fatalf("agent of capacity 1 has %d conversations", n)
		}
		st.rtClose(x, c.ID)
	}
}

// The queue that leaves an agent to a higher-priority queue looks again: here the
// higher queue gives its only conversation to another (longer idle) agent, and the
// lower queue's conversation then goes to the agent it had left, with no further
// event to wake it.
func TestDeferredAgentIsUsedWhenTheHigherQueueServesElsewhere(t *testing.T) {
	st, ch := newPageStack(t)
	high, low := st.rtKeywordQueues(ch, "High", 10, "Low")
	x := st.rtMember("xena", 1, high, low)
	y := st.rtMember("yves", 1, high)
	st.rtWaits(ch, "3250000000000001", "high priority", high)
	st.rtWaits(ch, "3250000000000002", "low priority", low)

	// Set the scene without waking anything: both available, yves idle longer.
	if _, err := st.db.Exec(`UPDATE agents SET presence = 'available',
		last_assigned_at = CASE WHEN id = $1 THEN '2000-01-01'::timestamptz ELSE '2001-01-01'::timestamptz END WHERE id IN ($1, $2)`, y.ID, x.ID); err != nil {
		t.Fatal(err)
	}
	// Wake only the low queue (a PATCH wakes the queue it changes): it must leave
	// xena to the high queue, which gives its conversation to yves; then xena is low's.
	st.rtPatch("/api/v1/queues/"+low, map[string]any{"name": "Low priority"})
	st.rtWait("3250000000000001", "high conversation assigned to yves", assignedTo(y))
	st.rtWait("3250000000000002", "low conversation assigned to xena", assignedTo(x))
}

// Two agents in the same queue: the longest-idle available agent gets the next one.
func TestLongestIdleAgentGetsTheNextConversation(t *testing.T) {
	st, ch := newPageStack(t)
	a, b := st.createAgent("amy", 5), st.createAgent("ben", 5)
	st.setPresence(a, "available")
	st.setPresence(b, "available")
	st.customerSays(ch, "3300000000000001", "one", "")
	first := st.rtWait("3300000000000001", "assigned", func(c rtConv) bool { return c.Status == "assigned" })
	st.customerSays(ch, "3300000000000002", "two", "")
	second := st.rtWait("3300000000000002", "assigned", func(c rtConv) bool { return c.Status == "assigned" })
	st.customerSays(ch, "3300000000000003", "three", "")
	third := st.rtWait("3300000000000003", "assigned", func(c rtConv) bool { return c.Status == "assigned" })
	if first.AgentID == second.AgentID || third.AgentID != first.AgentID {
		t.Fatalf("assignments %s, %s, %s: want alternating agents (longest idle first)", first.AgentID, second.AgentID, third.AgentID)
	}
}

// ---- capacity ----

// An agent's capacity is shared across its queues and counted in units: capacity 1
// in two queues with a conversation waiting in each takes exactly one; closing it
// assigns the other at once with no new message; a larger capacity (PATCH) takes
// the next; a workstream's capacity units are honoured.
func TestCapacityIsSharedAcrossQueuesAndFreedCapacityIsUsed(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	one, two := st.rtKeywordQueues(ch, "One", 0, "Two")
	a := st.rtMember("ann", 1, one, two)
	st.customerSays(ch, "3400000000000001", "queue one please", "")
	st.customerSays(ch, "3400000000000002", "queue two please", "")
	st.rtWait("3400000000000001", "waiting", waitingIn(one))
	st.rtWait("3400000000000002", "waiting", waitingIn(two))

	st.setPresence(a, "available")
	st.eventually("one assignment", 30*time.Second, func() bool { return st.count("conversations", "status = 'assigned'") == 1 })
	// Both queue workflows have had their chance: every wake reached them and
	// their last passes came after it.
	st.conversationsIdle(ch, "3400000000000001", "3400000000000002")
	st.queueSettled(one)
	st.queueSettled(two)
	if n := st.count("conversations", "status = 'assigned'"); n != 1 || st.rtLoad(a) != 1 {
		t.Fatalf("%d conversations assigned to an agent of capacity 1 in two queues", n)
	}
	var c1, c2 rtConv
	c1, _ = st.rtConversation("3400000000000001")
	c2, _ = st.rtConversation("3400000000000002")
	held, waiting := c1, "3400000000000002"
	if c2.Status == "assigned" {
		held, waiting = c2, "3400000000000001"
	}

	closedAt := time.Now()
	st.rtClose(a, held.ID)
	st.rtWait(waiting, "assigned after the close", assignedTo(a))
	t.Logf("close -> next conversation assigned in %v", time.Since(closedAt))
	next, _ := st.rtConversation(waiting)
	st.rtClose(a, next.ID)

	// Units: each conversation of the workstream now takes 2 units.
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"capacity_units": 2})
	st.rtWaits(ch, "3400000000000003", "one more for queue one", one)
	st.conversationsIdle(ch, "3400000000000003")
	st.queueSettled(one)
	if c, _ := st.rtConversation("3400000000000003"); c.Status != "waiting" {
		t.Fatalf("a 2-unit conversation went to an agent with capacity 1: %+v", c)
	}
	st.rtPatch("/api/v1/agents/"+a.ID, map[string]any{"capacity": 3})
	c3 := st.rtWait("3400000000000003", "assigned after the capacity grew", assignedTo(a))
	if c3.Units != 2 {
		t.Fatalf("conversation takes %d units, want 2", c3.Units)
	}
	st.rtWaits(ch, "3400000000000004", "and this is for queue two", two)
	st.conversationsIdle(ch, "3400000000000004")
	st.queueSettled(two)
	var view map[string]any
	st.call("GET", "/api/v1/agents/"+a.ID, st.adminToken, nil, &view)
	if view["load"] != 2.0 || view["remaining_capacity"] != 1.0 || view["open_conversations"] != 1.0 {
		t.Fatalf("agent view with 1 unit free: %v", view)
	}
	st.rtPatch("/api/v1/agents/"+a.ID, map[string]any{"capacity": 4})
	st.rtWait("3400000000000004", "assigned after the capacity grew", assignedTo(a))
	if st.rtLoad(a) != 4 {
		t.Fatalf("load %d, want 4", st.rtLoad(a))
	}
	if code := st.call("PATCH", "/api/v1/agents/"+a.ID, st.adminToken, map[string]any{"capacity": 101}, nil); code != 400 {
		t.Fatalf("capacity 101: %d", code)
	}
}

// ---- pick mode ----

// In a pick-mode workstream nothing is pushed; members list the queue and pick.
// Two agents picking the same conversation at once: exactly one wins, every time.
func TestPickModeExactlyOneOfTwoAgentsWins(t *testing.T) {
	heavy(t)
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"distribution_mode": "pick"})
	a := st.createAgent("pia", 100)
	b := st.createAgent("pablo", 100)
	full := st.createAgent("fred", 0)
	outsider := st.createAgent("olga", 5)
	st.rtLeave(ch.QueueID, outsider)
	for _, ag := range []agent{a, b, full, outsider} {
		st.setPresence(ag, "available")
	}

	n := loadSize(t, "PICK_RACES", 30, 100)
	psids := make([]string, n+1)
	for i := range psids {
		psids[i] = fmt.Sprintf("35%014d", i)
		st.customerSays(ch, psids[i], fmt.Sprintf("pick me %d", i), "")
	}
	st.eventually("all waiting", 120*time.Second, func() bool {
		return st.count("conversations", "status = 'waiting' AND queue_id = $1", ch.QueueID) == n+1
	})
	// Every conversation's queue wake has reached the queue, and its last pass
	// came after them all.
	st.conversationsIdle(ch, psids...)
	passes := st.queueSettled(ch.QueueID)
	if got := st.count("conversations", "status = 'assigned'"); got != 0 {
		t.Fatalf("%d pick-mode conversations were pushed to agents (in %d queue passes)", got, passes)
	}

	var list []map[string]any
	if code := st.call("GET", "/api/v1/queues/"+ch.QueueID+"/conversations", a.Token, nil, &list); code != 200 || len(list) != n+1 {
		t.Fatalf("queue conversations for a member: %d, %d items", code, len(list))
	}
	if list[0]["distribution_mode"] != "pick" || list[0]["preview"] == "" || list[0]["enqueued_at"] == nil {
		t.Fatalf("waiting conversation: %v", list[0])
	}
	// Compared as times: RFC 3339 drops a fraction's trailing zeros, so as
	// strings "…01.12Z" sorts after "…01.123Z".
	var previous time.Time
	for i, c := range list {
		at, err := time.Parse(time.RFC3339Nano, c["enqueued_at"].(string))
		if err != nil {
			t.Fatalf("queue conversation %d: enqueued_at: %v", i, err)
		}
		if at.Before(previous) {
			t.Fatalf("queue conversations not oldest first at %d: %v after %v", i, at, previous)
		}
		previous = at
	}
	if code := st.call("GET", "/api/v1/queues/"+ch.QueueID+"/conversations", outsider.Token, nil, nil); code != 404 {
		t.Fatalf("queue conversations for a non-member: %d, want 404", code)
	}

	var last rtConv
	last, _ = st.rtConversation(psids[n])
	if code, out, _ := st.rtPost("/api/v1/conversations/"+last.ID+"/pick", outsider.Token, nil); code != 404 {
		t.Fatalf("pick by a non-member: %d %v", code, out)
	}
	if code, out, _ := st.rtPost("/api/v1/conversations/"+last.ID+"/pick", full.Token, nil); code != 409 || errorCode(out) != "capacity_exceeded" {
		t.Fatalf("pick without capacity: %d %v", code, out)
	}

	wins := map[string]string{} // conversation -> winner
	for i := 0; i < n; i++ {
		c, _ := st.rtConversation(psids[i])
		var wg sync.WaitGroup
		start := make(chan struct{})
		codes := make([]int, 2)
		bodies := make([]map[string]any, 2)
		for k, ag := range []agent{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				code, body, err := st.rtPost("/api/v1/conversations/"+c.ID+"/pick", ag.Token, nil)
				if err != nil {
					code = -1
				}
				codes[k], bodies[k] = code, body
			}()
		}
		close(start)
		wg.Wait()
		sort.Ints(codes)
		if codes[0] != 200 || codes[1] != 409 {
			t.Fatalf("race %d: answers %v (%v), want one 200 and one 409", i, codes, bodies)
		}
		for k, ag := range []agent{a, b} {
			if bodies[k]["id"] == c.ID {
				wins[c.ID] = ag.ID
				if bodies[k]["agent_id"] != ag.ID || bodies[k]["status"] != "assigned" {
					t.Fatalf("winner's answer: %v", bodies[k])
				}
			} else if errorCode(bodies[k]) != "already_assigned" {
				t.Fatalf("loser's answer: %v", bodies[k])
			}
		}
	}
	if len(wins) != n {
		t.Fatalf("%d winners for %d races", len(wins), n)
	}
	// The database agrees: each conversation once, with its winner, announced once.
	for id, winner := range wins {
		if st.count("conversations", "id = $1 AND status = 'assigned' AND agent_id = $2", id, winner) != 1 {
			t.Fatalf("conversation %s is not assigned to its winner", id)
		}
	}
	if dup := st.count("(SELECT conversation_id FROM agent_events WHERE name = 'conversation.assigned' GROUP BY conversation_id HAVING count(*) > 1) d", "true"); dup != 0 {
		t.Fatalf("%d conversations announced more than once", dup)
	}
	if got := st.count("agent_events", "name = 'conversation.assigned'"); got != n {
		t.Fatalf("%d conversation.assigned events, want %d", got, n)
	}
	// Picking a taken conversation again is a 409; the workflow learned its agent.
	first, _ := st.rtConversation(psids[0])
	if code, out, _ := st.rtPost("/api/v1/conversations/"+first.ID+"/pick", a.Token, nil); code != 409 {
		t.Fatalf("pick of an assigned conversation: %d %v", code, out)
	}
	st.eventually("conversation workflow knows its agent", 10*time.Second, func() bool {
		state, err := conversationState(context.Background(), ch.PageID, psids[0])
		return err == nil && state.AgentID == wins[first.ID] && state.Status == contract.StatusAssigned
	})
}

// ---- transfer ----

// Transfer to an agent moves the capacity (and carries the note); an agent without
// room is refused with 409; transfer to a queue releases the first agent's capacity
// and puts the conversation behind those already waiting there.
func TestTransferMovesCapacity(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	billing := st.rtQueue(ch.AccountID, "Billing", 0)
	st.rtRules(ws, rtRule("Billing", billing, rtCond("message.text", "contains", "invoice")))
	a := st.createAgent("alice", 1)
	b := st.createAgent("bart", 1)
	eventsA := st.openEvents(a, "")
	eventsB := st.openEvents(b, "")

	// An older conversation already waits in billing (nobody serves it yet).
	st.customerSays(ch, "3600000000000000", "question about my invoice", "")
	st.rtWait("3600000000000000", "waiting in billing", waitingIn(billing))

	st.setPresence(a, "available")
	st.customerSays(ch, "3600000000000001", "I need help", "")
	c1 := st.rtWait("3600000000000001", "assigned to alice", assignedTo(a))
	eventsA.next(t, "conversation.assigned", 10*time.Second)
	st.setPresence(b, "available")

	// To bart, with a note.
	var out map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+c1.ID+"/transfer", a.Token, map[string]any{"agent_id": b.ID, "note": "VIP: refund already agreed"}, &out); code != 200 {
		t.Fatalf("transfer to agent: %d %v", code, out)
	}
	if out["agent_id"] != b.ID || out["transfer_note"] != "VIP: refund already agreed" {
		t.Fatalf("transferred conversation: %v", out)
	}
	got := eventsB.next(t, "conversation.assigned", 10*time.Second)
	conv, _ := got.Data["conversation"].(map[string]any)
	if got.Data["conversation_id"] != c1.ID || got.Data["note"] != "VIP: refund already agreed" || got.Data["transferred_by"] != a.ID || conv["transfer_note"] != "VIP: refund already agreed" {
		t.Fatalf("bart's assigned event: %v", got.Data)
	}
	var bartsView struct {
		TransferredBy struct{ ID, Name string } `json:"transferred_by"`
	}
	if code := st.call("GET", "/api/v1/conversations/"+c1.ID, b.Token, nil, &bartsView); code != 200 ||
		bartsView.TransferredBy.ID != a.ID || bartsView.TransferredBy.Name != "alice" {
		t.Fatalf("who transferred, as the conversation says: %d %+v", code, bartsView.TransferredBy)
	}
	gone := eventsA.next(t, "conversation.transferred", 10*time.Second)
	if gone.Data["conversation_id"] != c1.ID || gone.Data["to_agent_id"] != b.ID {
		t.Fatalf("alice's transferred event: %v", gone.Data)
	}
	if st.rtLoad(a) != 0 || st.rtLoad(b) != 1 {
		t.Fatalf("loads after transfer: alice %d, bart %d", st.rtLoad(a), st.rtLoad(b))
	}
	if code := st.call("GET", "/api/v1/conversations/"+c1.ID, a.Token, nil, nil); code != 404 {
		t.Fatalf("alice can still read the transferred conversation: %d", code)
	}
	st.eventually("conversation workflow knows bart", 10*time.Second, func() bool {
		state, err := conversationState(context.Background(), ch.PageID, "3600000000000001")
		return err == nil && state.AgentID == b.ID
	})

	// Alice's freed capacity takes the next conversation.
	st.customerSays(ch, "3600000000000002", "Another question", "")
	c2 := st.rtWait("3600000000000002", "assigned to alice", assignedTo(a))

	// Bart cannot give it back: alice is full.
	if code := st.call("POST", "/api/v1/conversations/"+c1.ID+"/transfer", b.Token, map[string]any{"agent_id": a.ID}, &out); code != 409 || errorCode(out) != "agent_at_capacity" {
		t.Fatalf("transfer to a full agent: %d %v", code, out)
	}
	for _, bad := range []map[string]any{{}, {"agent_id": a.ID, "queue_id": billing}, {"queue_id": uuid.NewString()}, {"agent_id": b.ID}, {"agent": a.ID}} {
		if code := st.call("POST", "/api/v1/conversations/"+c1.ID+"/transfer", b.Token, bad, nil); code != 400 {
			t.Errorf("transfer %v: %d, want 400", bad, code)
		}
	}
	if code := st.call("POST", "/api/v1/conversations/"+c2.ID+"/transfer", b.Token, map[string]any{"queue_id": billing}, nil); code != 404 {
		t.Fatalf("transfer of someone else's conversation: %d, want 404", code)
	}

	// To the billing queue: bart's capacity is released, the conversation waits
	// behind the one that was there first.
	if code := st.call("POST", "/api/v1/conversations/"+c1.ID+"/transfer", b.Token, map[string]any{"queue_id": billing, "note": "needs a credit note"}, &out); code != 200 {
		t.Fatalf("transfer to queue: %d %v", code, out)
	}
	if out["status"] != "waiting" || out["queue_id"] != billing || out["agent_id"] != nil {
		t.Fatalf("conversation transferred to a queue: %v", out)
	}
	if st.rtLoad(b) != 0 {
		t.Fatalf("bart's load %d after transferring to a queue", st.rtLoad(b))
	}
	var waiting []map[string]any
	st.call("GET", "/api/v1/queues/"+billing+"/conversations", st.adminToken, nil, &waiting)
	older, _ := st.rtConversation("3600000000000000")
	if len(waiting) != 2 || waiting[0]["id"] != older.ID || waiting[1]["id"] != c1.ID {
		t.Fatalf("billing queue after the transfer: %v", waiting)
	}
	st.customerSays(ch, "3600000000000003", "Hello?", "")
	st.rtWait("3600000000000003", "assigned to bart", assignedTo(b))

	// Someone joins billing: FIFO, the older conversation first, then the transferred
	// one with its note.
	d := st.createAgent("dora", 1)
	eventsD := st.openEvents(d, "")
	st.rtJoin(billing, d)
	st.setPresence(d, "available")
	ev := eventsD.next(t, "conversation.assigned", 30*time.Second)
	if ev.Data["conversation_id"] != older.ID {
		t.Fatalf("dora got %v first, want the older %s", ev.Data["conversation_id"], older.ID)
	}
	st.rtClose(d, older.ID)
	ev = eventsD.next(t, "conversation.assigned", 30*time.Second)
	if ev.Data["conversation_id"] != c1.ID || ev.Data["note"] != "needs a credit note" {
		t.Fatalf("dora's second assignment: %v", ev.Data)
	}
}

// ---- overflow ----

// After the workstream's maximum wait, a conversation nobody took moves to the
// overflow queue (durable timer in the queue workflow) and is assigned there.
func TestConversationOverflowsAfterMaxWait(t *testing.T) {
	st, ch := newPageStack(t)
	ws := st.rtWorkstreamID(ch)
	overflow := st.rtQueue(ch.AccountID, "Overflow", 0)
	st.rtPatch("/api/v1/workstreams/"+ws, map[string]any{"max_wait_seconds": 2, "overflow_queue_id": overflow})
	e := st.createAgent("erin", 1)
	st.rtLeave(ch.QueueID, e)
	st.rtJoin(overflow, e)
	st.setPresence(e, "available")

	st.customerSays(ch, "3700000000000001", "Is anybody there?", "")
	st.rtWait("3700000000000001", "waiting in the default queue", waitingIn(ch.QueueID))
	c := st.rtWait("3700000000000001", "assigned in the overflow queue", assignedTo(e))
	if c.QueueID != overflow {
		t.Fatalf("assigned in queue %s, want the overflow queue", c.QueueID)
	}
	var from string
	var waited float64
	if err := st.db.QueryRow(`SELECT overflow_from::text, extract(epoch FROM overflowed_at - enqueued_at) FROM conversations WHERE id = $1`, c.ID).Scan(&from, &waited); err != nil {
		t.Fatal(err)
	}
	if from != ch.QueueID || waited < 2 {
		t.Fatalf("overflowed from %s after %.1fs, want from the default queue after 2s", from, waited)
	}
}

// ---- supervisor ----

// The supervisor view: queue length, oldest wait, agents available and each
// agent's load; an agent's own view with its open conversations and remaining
// capacity.
func TestSupervisorView(t *testing.T) {
	st, ch := newPageStack(t)
	a := st.createAgent("ava", 2)
	b := st.createAgent("bea", 3)
	st.setPresence(a, "available")
	st.setPresence(b, "busy")
	for i := 1; i <= 3; i++ {
		st.customerSays(ch, fmt.Sprintf("380000000000000%d", i), "hello", "")
	}
	st.eventually("two assigned, one waiting", 30*time.Second, func() bool {
		return st.count("conversations", "status = 'assigned'") == 2 && st.count("conversations", "status = 'waiting' AND queue_id IS NOT NULL") == 1
	})

	var views []map[string]any
	// The oldest conversation's wait, as the view reports it, passes a second.
	st.eventually("the oldest conversation waiting a second", 30*time.Second, func() bool {
		if code := st.call("GET", "/api/v1/queues?account_id="+ch.AccountID, st.adminToken, nil, &views); code != 200 || len(views) != 1 {
			t.Fatalf("queues: %d %v", code, views)
		}
		w, _ := views[0]["oldest_wait_seconds"].(float64)
		return w >= 1
	})
	q := views[0]
	if q["id"] != ch.QueueID || q["length"] != 1.0 || q["agents_available"] != 1.0 || q["oldest_waiting_since"] == nil || q["oldest_wait_seconds"].(float64) < 1 {
		t.Fatalf("queue view: %v", q)
	}
	loads := map[string]map[string]any{}
	for _, x := range q["agents"].([]any) {
		m := x.(map[string]any)
		loads[m["id"].(string)] = m
	}
	if la := loads[a.ID]; la["load"] != 2.0 || la["open_conversations"] != 2.0 || la["remaining_capacity"] != 0.0 || la["presence"] != "available" {
		t.Fatalf("ava's load: %v", la)
	}
	if lb := loads[b.ID]; lb["load"] != 0.0 || lb["remaining_capacity"] != 3.0 || lb["presence"] != "busy" {
		t.Fatalf("bea's load: %v", lb)
	}
	var all []map[string]any
	if code := st.call("GET", "/api/v1/queues", st.adminToken, nil, &all); code != 200 || len(all) == 0 {
		t.Fatalf("all queues: %d", code)
	}
	var one map[string]any
	if code := st.call("GET", "/api/v1/queues/"+ch.QueueID, st.adminToken, nil, &one); code != 200 || one["length"] != 1.0 {
		t.Fatalf("one queue: %d %v", code, one)
	}
	if code := st.call("GET", "/api/v1/queues", a.Token, nil, nil); code != 401 {
		t.Fatalf("queues with an agent token: %d, want 401", code)
	}

	var me map[string]any
	if code := st.call("GET", "/api/v1/agents/"+a.ID, a.Token, nil, &me); code != 200 {
		t.Fatalf("agent's own view: %d", code)
	}
	convs, _ := me["conversations"].([]any)
	if me["capacity"] != 2.0 || me["load"] != 2.0 || me["remaining_capacity"] != 0.0 || len(convs) != 2 || len(me["queues"].([]any)) != 1 {
		t.Fatalf("agent view: %v", me)
	}
	if code := st.call("GET", "/api/v1/agents/"+a.ID, st.adminToken, nil, &me); code != 200 {
		t.Fatalf("admin's view of the agent: %d", code)
	}
	if code := st.call("GET", "/api/v1/agents/"+a.ID, b.Token, nil, nil); code != 404 {
		t.Fatalf("another agent's view: %d, want 404", code)
	}
}

// ---- load ----
// ---- load ----

// assignmentLoad is one load run: customers who all write within seconds to one
// page, whose default queue has a team of agents of equal capacity. The agents
// stay away until everyone waits, then become available and close their
// conversations in random order until the queue is empty.
type assignmentLoad struct {
	conversations, agents, capacity int
	// interrupt, when set, runs on the test goroutine while the agents work (e.g.
	// it stops and restarts the worker) and returns when it is done.
	interrupt func(w *loadWork)
	// returning, when set, is the workstream's affinity for a second round: when
	// the queue has drained, every customer writes again, while the agents are
	// available, and the agents work through those conversations too.
	returning map[string]any
}

// loadWork is the work phase in progress, as an interruption sees it.
type loadWork struct {
	st      *stack
	queueID string
	load    assignmentLoad
	closed  atomic.Int32 // conversations closed so far
	closing atomic.Int32 // close requests sent and not yet answered
	// failed receives an agent's failure (it stops working).
	failed chan error
}

// runAssignmentLoad runs the load and checks what must hold whatever happened
// meanwhile: every conversation assigned exactly once, in FIFO order of the queue
// (without affinity), no agent ever over capacity (watched live, and replayed
// event by event from the agents' event log), and the queue drained.
func (st *stack) runAssignmentLoad(l assignmentLoad) {
	t := st.t
	t.Helper()
	ch := st.connectPage()
	team := make([]agent, l.agents)
	for i := range team {
		team[i] = st.createAgent(fmt.Sprintf("load%d", i), l.capacity)
	}

	start := time.Now()
	st.loadCustomersWrite(ch, l.conversations, "m_load_%d")
	st.eventually("all waiting", 180*time.Second, func() bool {
		return st.count("conversations", "status = 'waiting' AND queue_id IS NOT NULL") == l.conversations
	})
	t.Logf("%d conversations waiting after %v", l.conversations, time.Since(start))

	// Watch capacity the whole time.
	stop := make(chan struct{})
	var over atomic.Value
	watcher := make(chan struct{})
	go func() {
		defer close(watcher)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var id string
			err := st.db.QueryRow(`SELECT a.id FROM agents a WHERE a.capacity <
				(SELECT coalesce(sum(units), 0) FROM conversations c WHERE c.agent_id = a.id AND c.status = 'assigned') LIMIT 1`).Scan(&id)
			if err == nil {
				over.Store(id)
			}
		}
	}()

	workStart := time.Now()
	for _, a := range team {
		st.setPresence(a, "available")
	}
	st.loadWorkThrough(ch, l, team, l.interrupt)
	elapsed := time.Since(workStart)
	if l.returning != nil {
		st.rtPatch("/api/v1/workstreams/"+st.rtWorkstreamID(ch), map[string]any{"affinity": l.returning})
		back := time.Now()
		st.loadCustomersWrite(ch, l.conversations, "m_back_%d")
		again := st.loadWorkThrough(ch, l, team, nil)
		var previous int
		if err := st.db.QueryRow(`SELECT count(*) FROM conversations c WHERE c.status = 'closed' AND EXISTS (
			SELECT 1 FROM conversations b WHERE b.customer_id = c.customer_id AND b.opened_at < c.opened_at AND b.agent_id = c.agent_id)`).Scan(&previous); err != nil {
			t.Fatal(err)
		}
		t.Logf("returning customers: %d conversations closed in %v, %d of them by the customer's previous agent",
			again.closed.Load(), time.Since(back), previous)
	}
	close(stop)
	<-watcher
	if id := over.Load(); id != nil {
		t.Fatalf("agent %v was over capacity", id)
	}
	t.Logf("%d conversations assigned and closed by %d agents of capacity %d in %v (%.0f assignments/s)",
		l.conversations, l.agents, l.capacity, elapsed, float64(l.conversations)/elapsed.Seconds())
	if n := st.count("conversations", "status <> 'closed'"); n != 0 {
		t.Fatalf("%d conversations not closed: the queue did not drain", n)
	}
	st.rtReplayAssignments(l)
	st.rtWorkflowsKnowTheirAgents()
}

// loadCustomersWrite has n customers of the page write at once (16 at a time),
// each message id made from midFormat and the customer's number.
func (st *stack) loadCustomersWrite(ch channel, n int, midFormat string) {
	t := st.t
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	var failed, redelivered atomic.Int32
	sem := make(chan struct{}, 16)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// A 503 (the signal missed the webhook's deadline on a loaded machine)
			// means "deliver again", and Facebook does: the same message, so a
			// delivery that did reach Temporal is recorded once.
			mid := fmt.Sprintf(midFormat, i)
			for attempt := 1; ; attempt++ {
				status, _, err := st.sim.PostCustomerMessage(context.Background(), ch.CallbackURL, ch.AppSecret, ch.PageID, fmt.Sprintf("39%014d", i), "help", mid)
				if err == nil && status == 503 && attempt < 5 {
					redelivered.Add(1)
					time.Sleep(time.Duration(attempt) * time.Second) // Facebook's backoff, shortened
					continue
				}
				if err != nil || status != 200 {
					failed.Add(1)
				}
				return
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d webhook deliveries failed", failed.Load())
	}
	t.Logf("%d customers wrote in %v (%d deliveries answered 503 and were delivered again)", n, time.Since(start), redelivered.Load())
}

// loadWorkThrough has each agent close its conversations in random order until
// l.conversations more are closed, with interrupt (if any) running meanwhile.
func (st *stack) loadWorkThrough(ch channel, l assignmentLoad, team []agent, interrupt func(*loadWork)) *loadWork {
	t := st.t
	t.Helper()
	work := &loadWork{st: st, queueID: ch.QueueID, load: l, failed: make(chan error, l.agents)}
	errs := work.failed
	var wg sync.WaitGroup
	for _, a := range team {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(5 * time.Minute)
			for int(work.closed.Load()) < l.conversations && time.Now().Before(deadline) {
				rows, err := st.db.Query(`SELECT id FROM conversations WHERE agent_id = $1 AND status = 'assigned'`, a.ID)
				if err != nil {
					errs <- err
					return
				}
				var mine []string
				for rows.Next() {
					var id string
					_ = rows.Scan(&id)
					mine = append(mine, id)
				}
				rows.Close()
				if len(mine) == 0 {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				id := mine[rand.IntN(len(mine))]
				work.closing.Add(1)
				code, body, err := st.rtPost("/api/v1/conversations/"+id+"/close", a.Token, nil)
				work.closing.Add(-1)
				if err != nil || code != 200 {
					errs <- fmt.Errorf("close %s: %d %v %v", id, code, body, err)
					return
				}
				work.closed.Add(1)
			}
		}()
	}
	if interrupt != nil {
		interrupt(work)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := int(work.closed.Load()); got != l.conversations {
		t.Fatalf("%d of %d conversations worked through", got, l.conversations)
	}
	return work
}

// rtReplayAssignments reads the agents' event log in order: each conversation
// assigned exactly once; no agent above its capacity after any event; assignments
// in FIFO order of the queue.
func (st *stack) rtReplayAssignments(l assignmentLoad) {
	t := st.t
	t.Helper()
	rows, err := st.db.Query(`SELECT e.name, e.agent_id, e.conversation_id, c.enqueued_at, c.id
		FROM agent_events e JOIN conversations c ON c.id = e.conversation_id
		WHERE e.name IN ('conversation.assigned', 'conversation.closed') ORDER BY e.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	load := map[string]int{}
	assignedOnce := map[string]int{}
	var lastEnqueued time.Time
	var lastID string
	for rows.Next() {
		var name, agentID, convID, id string
		var enqueued time.Time
		if err := rows.Scan(&name, &agentID, &convID, &enqueued, &id); err != nil {
			t.Fatal(err)
		}
		if name == "conversation.closed" {
			load[agentID]--
			continue
		}
		assignedOnce[convID]++
		load[agentID]++
		if load[agentID] > l.capacity {
			t.Fatalf("agent %s at %d conversations, capacity %d", agentID, load[agentID], l.capacity)
		}
		if l.returning == nil && (enqueued.Before(lastEnqueued) || (enqueued.Equal(lastEnqueued) && id < lastID)) {
			t.Fatalf("conversation %s (enqueued %v) assigned after one enqueued later (%v): not FIFO", convID, enqueued, lastEnqueued)
		}
		lastEnqueued, lastID = enqueued, id
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := l.conversations
	if l.returning != nil {
		want *= 2 // each customer's two conversations
	}
	if len(assignedOnce) != want {
		t.Fatalf("%d conversations assigned, want %d", len(assignedOnce), want)
	}
	for id, n := range assignedOnce {
		if n != 1 {
			t.Fatalf("conversation %s assigned %d times", id, n)
		}
	}
}

// The load: 300 customers write within seconds to a page whose queue has
// 10 agents of capacity 3; the agents close conversations in random order. Every
// conversation is assigned exactly once, in FIFO order, no agent is ever over
// capacity, and the queue drains. ROUTING_LOAD_CONVERSATIONS changes the number of
// customers (make test: 100; make test-long: the 300).
func TestManyConversationsAreEachAssignedOnceWithinCapacity(t *testing.T) {
	heavy(t)
	l := assignmentLoad{conversations: loadSize(t, "ROUTING_LOAD_CONVERSATIONS", 100, 300), agents: 10, capacity: 3}
	newStack(t).runAssignmentLoad(l)
}

// The worker is stopped (as a crash or a deploy stops it) and restarted twice
// while the agents work through the load (make test-long: the issue's), each time while assignments are
// in progress: conversations still wait, and the stop is timed for the moment the
// queue workflow's assignment activity runs, so that activity is cut short (Stop
// cancels it) and the rest of its work falls to the next worker. Still every
// conversation is assigned exactly once, in FIFO order, no agent is ever over
// capacity, the queue drains, and each conversation's workflow knows its agent.
func TestWorkerRestartDuringLoadStillAssignsEachConversationOnce(t *testing.T) {
	heavy(t)
	// Enough conversations that some still wait at the second stop (make test: 150).
	l := assignmentLoad{conversations: loadSize(t, "ROUTING_LOAD_CONVERSATIONS", 150, 300), agents: 10, capacity: 3}
	interrupted := 0
	l.interrupt = func(w *loadWork) {
		for _, closed := range []int{l.conversations / 3, 2 * l.conversations / 3} {
			if w.restartWorkerDuringAssignment(closed) {
				interrupted++
			}
		}
	}
	newStack(t).runAssignmentLoad(l)
	t.Logf("%d of 2 stops caught the assignment activity running", interrupted)
}

// The load again with affinity on: when the queue has drained, every customer
// writes again while the agents work, and the workstream sends each back to their
// previous agent, waiting 2 s for one who is full (then anyone). Still every
// conversation is assigned exactly once, no agent is ever over capacity, and the
// queue drains.
func TestReturningCustomersWithAffinityAreEachAssignedOnceWithinCapacity(t *testing.T) {
	heavy(t)
	l := assignmentLoad{conversations: loadSize(t, "ROUTING_LOAD_CONVERSATIONS", 100, 300), agents: 10, capacity: 3,
		returning: map[string]any{"days": 7, "wait_s": 2, "fallback": "wait"}}
	newStack(t).runAssignmentLoad(l)
}

// restartWorkerDuringAssignment waits until the agents have closed `closed`
// conversations, stops the worker (if it can, while the queue workflow's
// AssignQueue activity runs; it answers whether it did), keeps it stopped until
// every agent with a conversation has a close request waiting on it, and starts a
// new worker.
func (w *loadWork) restartWorkerDuringAssignment(closed int) bool {
	st := w.st
	st.t.Helper()
	st.eventually(fmt.Sprintf("%d conversations closed", closed), 3*time.Minute, func() bool {
		return int(w.closed.Load()) >= closed
	})
	running := st.rtAwaitAssignmentActivity(w.queueID, 10*time.Second)
	st.stopWorker()
	waiting := st.count("conversations", "status = 'waiting'")
	st.t.Logf("worker stopped after %d closes with %d conversations waiting (assignment activity running: %v)", w.closed.Load(), waiting, running)
	if waiting == 0 {
		st.t.Fatalf("the queue had drained before the worker stopped: the stop proves nothing")
	}
	// The agents' closes are updates of conversation workflows: each agent with a
	// conversation sends one and it waits for a worker, as do the queue wakes it
	// causes. (An agent may have none: they close as soon as they are assigned.)
	st.eventually("close requests waiting on the stopped worker", 30*time.Second, func() bool {
		select {
		case err := <-w.failed:
			st.t.Fatalf("while the worker was stopped: %v", err)
		default:
		}
		return int(w.closing.Load()) >= st.count("(SELECT DISTINCT agent_id FROM conversations WHERE status = 'assigned') busy", "true")
	})
	st.t.Logf("restarting the worker with %d close requests waiting on it", w.closing.Load())
	st.startWorker()
	return running
}

// rtAwaitAssignmentActivity watches the queue workflow until its AssignQueue
// activity has been started by the worker, for up to timeout; it answers whether
// it saw that.
func (st *stack) rtAwaitAssignmentActivity(queueID string, timeout time.Duration) bool {
	st.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		d, err := temporalClient.DescribeWorkflowExecution(ctx, contract.QueueWorkflowID(queueID), "")
		if err != nil {
			st.t.Fatal(err)
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == "AssignQueue" && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				return true
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}

// rtWorkflowsKnowTheirAgents checks that each conversation's workflow learned the
// agent Postgres assigned it to: its closed run's AgentID search attribute (set at
// close from what the run knows) names that agent.
func (st *stack) rtWorkflowsKnowTheirAgents() {
	st.t.Helper()
	want := map[string]string{} // conversation id (its run id) → agent
	rows, err := st.db.Query(`SELECT id, coalesce(agent_id::text, '') FROM conversations`)
	if err != nil {
		st.t.Fatal(err)
	}
	for rows.Next() {
		var id, agentID string
		_ = rows.Scan(&id, &agentID)
		want[id] = agentID
	}
	rows.Close()
	got := map[string]string{}
	st.eventually("every conversation's run closed and visible", 60*time.Second, func() bool {
		clear(got)
		var next []byte
		for {
			resp, err := temporalClient.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: namespace, PageSize: 1000, NextPageToken: next,
				Query: "WorkflowType = 'ConversationWorkflow' AND ExecutionStatus = 'Completed' AND TaskQueue = '" + st.taskQueue + "'",
			})
			if err != nil {
				st.t.Fatal(err)
			}
			for _, ex := range resp.Executions {
				var agentID string
				if p := ex.GetSearchAttributes().GetIndexedFields()[contract.AgentIDKey.GetName()]; p != nil {
					_ = converter.GetDefaultDataConverter().FromPayload(p, &agentID)
				}
				got[ex.GetExecution().GetRunId()] = agentID
			}
			if next = resp.NextPageToken; len(next) == 0 {
				break
			}
		}
		return len(got) >= len(want)
	})
	wrong := 0
	for id, agentID := range want {
		if got[id] != agentID {
			if wrong++; wrong <= 5 {
				st.t.Errorf("conversation %s: its workflow knew agent %q, Postgres assigned %q", id, got[id], agentID)
			}
		}
	}
	if wrong > 0 {
		st.t.Fatalf("%d of %d conversation workflows did not know their agent", wrong, len(want))
	}
}
