//go:build integration

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// customerReacts delivers a message_reactions webhook event: the customer
// reacts (or, with action "unreact", stops reacting) to the message mid.
func (st *stack) customerReacts(ch channel, psid, mid, action, emoji string) {
	st.t.Helper()
	payload, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{
		"id": ch.PageID, "time": time.Now().UnixMilli(),
		"messaging": []any{map[string]any{
			"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": ch.PageID},
			"timestamp": time.Now().UnixMilli(),
			"reaction":  map[string]string{"reaction": "like", "emoji": emoji, "action": action, "mid": mid},
		}},
	}}})
	status, body, err := st.sim.PostWebhook(context.Background(), ch.CallbackURL, ch.AppSecret, payload)
	if err != nil || status != 200 {
		st.t.Fatalf("reaction webhook: %d %s %v", status, body, err)
	}
}

type conversationView struct {
	ID           string     `json:"id"`
	Status       string     `json:"status"`
	AgentID      string     `json:"agent_id"`
	UnreadCount  int        `json:"unread_count"`
	WaitingSince *time.Time `json:"waiting_since"`
	LastMessage  *struct {
		Text string `json:"text"`
	} `json:"last_message"`
	Messages []struct {
		ID                string `json:"id"`
		Direction         string `json:"direction"`
		Kind              string `json:"kind"`
		Text              string `json:"text"`
		FacebookMessageID string `json:"facebook_message_id"`
		Reactions         []struct {
			Emoji string `json:"emoji"`
			By    string `json:"by"`
		} `json:"reactions"`
	} `json:"messages"`
}

// Consult: A invites B; B sees A's conversation live (a new customer message
// arrives on B's stream), writes a note A gets, and takes none of B's capacity
// (a new customer is assigned to B while it consults). B may not reply. At
// most five consultants; either side ends a consult; the primary turns one
// into a transfer, after which B owns the conversation and the consult is over.
func TestConsultAPI(t *testing.T) {
	st := newStack(t)
	ch, a, eventsA, conv := st.conversationOnNewPage("Ann", 1, "3100000000000001", "My parcel is lost")
	b, eventsB := st.availableAgent("Ben", 2)

	var k struct{ ID, AgentID, Status string }
	var raw map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", b.Token, map[string]string{"agent_id": a.ID}, &raw); code != 404 {
		t.Fatalf("consult invited by someone else: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", a.Token, map[string]string{}, &raw); code != 400 {
		t.Fatalf("consult without a target: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", a.Token, map[string]string{"agent_id": b.ID}, &raw); code != 201 {
		t.Fatalf("consult: %d %v", code, raw)
	}
	k.ID, k.AgentID, k.Status = raw["id"].(string), raw["agent_id"].(string), raw["status"].(string)
	if k.AgentID != b.ID || k.Status != "active" {
		t.Fatalf("consult answer: %v", raw)
	}
	if ev := eventsB.next(t, "consult.started", 10*time.Second); ev.Data["conversation_id"] != conv {
		t.Fatalf("consult.started for B: %v", ev.Data)
	}
	eventsA.next(t, "consult.started", 10*time.Second)

	// B reads the conversation, and its list holds it.
	var seen conversationView
	if code := st.call("GET", "/api/v1/conversations/"+conv, b.Token, nil, &seen); code != 200 || len(seen.Messages) == 0 || seen.AgentID != a.ID {
		t.Fatalf("consultant reads: %d %+v", code, seen)
	}
	var listB []conversationView
	st.call("GET", "/api/v1/me/conversations", b.Token, nil, &listB)
	if len(listB) != 1 || listB[0].ID != conv {
		t.Fatalf("consultant's list: %+v", listB)
	}
	// Live: the customer's next message reaches B's stream.
	st.customerSays(ch, "3100000000000001", "It was due Monday", "")
	if ev := eventsB.next(t, "message.received", 30*time.Second); ev.Data["conversation_id"] != conv {
		t.Fatalf("message.received for B: %v", ev.Data)
	}
	// B writes a note; A gets it. B may not reply to the customer.
	var note map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/notes", b.Token, map[string]string{"text": "Carrier lost two parcels this week"}, &note); code != 201 {
		t.Fatalf("consultant's note: %d %v", code, note)
	}
	ev := eventsA.next(t, "note.added", 10*time.Second)
	if m, _ := ev.Data["message"].(map[string]any); m["text"] != "Carrier lost two parcels this week" || m["agent_id"] != b.ID {
		t.Fatalf("note.added for A: %v", ev.Data)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/messages", b.Token, map[string]string{"text": "hi"}, &raw); code != 404 {
		t.Fatalf("consultant replies: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/typing", b.Token, map[string]bool{"on": true}, nil); code != 404 {
		t.Fatalf("consultant types: %d", code)
	}

	// No capacity taken: A is full (capacity 1), so the next customer goes to B,
	// and B then still has room for the transfer below (capacity 2).
	other := st.customerAssigned(eventsB, ch, "3100000000000002", "Hello?")
	if other == conv || st.count("conversations", "id = $1 AND agent_id = $2", other, b.ID) != 1 {
		t.Fatalf("the next customer was not assigned to the consultant")
	}

	// At most five consultants.
	var extra []agent
	for i := 0; i < 4; i++ {
		c := st.createAgent(fmt.Sprintf("Consultant %d", i), 1)
		st.setPresence(c, "available")
		extra = append(extra, c)
		if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", a.Token, map[string]string{"agent_id": c.ID}, &raw); code != 201 {
			t.Fatalf("consultant %d: %d %v", i+2, code, raw)
		}
	}
	sixth := st.createAgent("Sixth", 1)
	st.setPresence(sixth, "available")
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", a.Token, map[string]string{"agent_id": sixth.ID}, &raw); code != 409 {
		t.Fatalf("sixth consultant: %d %v", code, raw)
	}
	// The consultant ends a consult of its own (one of the four), then the limit has room.
	var consults struct {
		Consults []struct {
			ID      string `json:"id"`
			AgentID string `json:"agent_id"`
		} `json:"consults"`
	}
	st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &consults)
	if len(consults.Consults) != 5 {
		t.Fatalf("consults on the conversation: %+v", consults)
	}
	last := consults.Consults[4]
	if code := st.call("DELETE", "/api/v1/conversations/"+conv+"/consults/"+last.ID, b.Token, nil, &raw); code != 404 {
		t.Fatalf("another consultant's consult ended by B: %d %v", code, raw)
	}
	if code := st.call("DELETE", "/api/v1/conversations/"+conv+"/consults/"+consults.Consults[3].ID, a.Token, nil, &raw); code != 200 || raw["status"] != "ended" {
		t.Fatalf("primary ends a consult: %d %v", code, raw)
	}
	if consults.Consults[1].AgentID != extra[0].ID {
		t.Fatalf("consults out of order: %+v", consults.Consults)
	}
	if code := st.call("DELETE", "/api/v1/conversations/"+conv+"/consults/"+consults.Consults[1].ID, extra[0].Token, nil, &raw); code != 200 || raw["status"] != "ended" {
		t.Fatalf("consultant ends its consult: %d %v", code, raw)
	}
	// A queue gives its longest-idle available member who is not consulting yet.
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", a.Token, map[string]string{"queue_id": ch.QueueID}, &raw); code != 201 {
		t.Fatalf("consult a queue: %d %v", code, raw)
	}
	if who := raw["agent_id"]; who == a.ID || who == b.ID || who == extra[1].ID || who == extra[3].ID {
		t.Fatalf("the queue gave someone already on the conversation: %v", raw)
	}

	// The consult becomes a transfer: B owns the conversation, the consult is over.
	var moved conversationView
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults/"+k.ID+"/transfer", a.Token, nil, &moved); code != 200 || moved.AgentID != b.ID {
		t.Fatalf("consult to transfer: %d %+v", code, moved)
	}
	if ev := eventsB.next(t, "conversation.assigned", 30*time.Second); ev.Data["conversation_id"] != conv {
		t.Fatalf("B's assignment: %v", ev.Data)
	}
	if st.count("conversation_consults", "id = $1 AND status = 'transferred'", k.ID) != 1 {
		t.Fatal("the consult did not end as transferred")
	}
	st.agentSends(b, conv, "I have your parcel's case now")
	if code := st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &raw); code != 404 {
		t.Fatalf("A reads after the transfer: %d", code)
	}
	// The transfer ended the other consults too (they were A's invitations).
	if n := st.count("conversation_consults", "conversation_id = $1 AND status = 'active'", conv); n != 0 {
		t.Fatalf("%d consults still active after the transfer", n)
	}
	// Closing the conversation ends the consults still running: B invites one.
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", b.Token, map[string]string{"agent_id": extra[0].ID}, &raw); code != 201 {
		t.Fatalf("B's consult: %d %v", code, raw)
	}
	st.agentCloses(b, conv)
	if n := st.count("conversation_consults", "conversation_id = $1 AND status = 'active'", conv); n != 0 {
		t.Fatalf("%d consults still active after the close", n)
	}
}

// consultantAccess is what the agent gets reading the conversation and writing
// a note on it.
func (st *stack) consultantAccess(a agent, conv string) (read, note int) {
	st.t.Helper()
	read = st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, nil)
	note = st.call("POST", "/api/v1/conversations/"+conv+"/notes", a.Token, map[string]string{"text": "still here?"}, nil)
	return read, note
}

// consultEndedFor waits for the consultant's consult.ended on the conversation
// and requires the consult it carries ended with status.
func consultEndedFor(t *testing.T, events *sse, conv, status string) {
	t.Helper()
	ev := events.next(t, "consult.ended", 30*time.Second)
	k, _ := ev.Data["consult"].(map[string]any)
	if ev.Data["conversation_id"] != conv || k["status"] != status {
		t.Fatalf("consult.ended: %v, want status %s", ev.Data, status)
	}
}

// An ordinary transfer ends the conversation's consults: A invites B (and D,
// who ends its consult by hand: what an ended consult may do is the measure),
// then transfers to C; B gets consult.ended and may neither read nor write
// notes, as D. C invites B in turn and transfers to a queue: the same.
func TestTransferEndsConsults(t *testing.T) {
	st := newStack(t)
	ch, a, _, conv := st.conversationOnNewPage("Ann", 1, "3100000000000021", "Where is my refund?")
	b, eventsB := st.availableAgent("Ben", 1)
	c, eventsC := st.availableAgent("Cat", 2)
	d, _ := st.availableAgent("Dan", 1)

	invite := func(by, who agent) string {
		t.Helper()
		var k map[string]any
		if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", by.Token, map[string]string{"agent_id": who.ID}, &k); code != 201 {
			t.Fatalf("%s invites %s: %d %v", by.Name, who.Name, code, k)
		}
		return k["id"].(string)
	}
	invite(a, b)
	dk := invite(a, d)
	if read, note := st.consultantAccess(b, conv); read != 200 || note != 201 {
		t.Fatalf("consultant B: read %d, note %d", read, note)
	}
	if code := st.call("DELETE", "/api/v1/conversations/"+conv+"/consults/"+dk, d.Token, nil, nil); code != 200 {
		t.Fatalf("D ends its consult: %d", code)
	}
	endedRead, endedNote := st.consultantAccess(d, conv)
	if endedRead == 200 || endedNote == 201 {
		t.Fatalf("an ended consult still reads (%d) or writes notes (%d)", endedRead, endedNote)
	}

	// To an agent.
	var moved conversationView
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/transfer", a.Token, map[string]string{"agent_id": c.ID}, &moved); code != 200 || moved.AgentID != c.ID {
		t.Fatalf("transfer to C: %d %+v", code, moved)
	}
	eventsC.next(t, "conversation.assigned", 30*time.Second)
	consultEndedFor(t, eventsB, conv, "ended")
	if read, note := st.consultantAccess(b, conv); read != endedRead || note != endedNote {
		t.Fatalf("B after the transfer: read %d, note %d; an ended consult gets %d, %d", read, note, endedRead, endedNote)
	}
	if n := st.count("conversation_consults", "conversation_id = $1 AND agent_id = $2 AND status = 'ended'", conv, b.ID); n != 1 {
		t.Fatalf("B's consult is not ended (%d)", n)
	}
	var seen struct {
		Consults []any `json:"consults"`
	}
	if code := st.call("GET", "/api/v1/conversations/"+conv, c.Token, nil, &seen); code != 200 || len(seen.Consults) != 0 {
		t.Fatalf("C's conversation: %d, consults %v", code, seen.Consults)
	}

	// To a queue. B goes away once invited, so the queue cannot give it to B.
	invite(c, b)
	eventsB.next(t, "consult.started", 10*time.Second)
	st.setPresence(b, "away")
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/transfer", c.Token, map[string]string{"queue_id": ch.QueueID}, nil); code != 200 {
		t.Fatalf("transfer to the queue: %d", code)
	}
	consultEndedFor(t, eventsB, conv, "ended")
	if read, note := st.consultantAccess(b, conv); read != endedRead || note != endedNote {
		t.Fatalf("B after the transfer to a queue: read %d, note %d; an ended consult gets %d, %d", read, note, endedRead, endedNote)
	}
	if n := st.count("conversation_consults", "conversation_id = $1 AND status = 'active'", conv); n != 0 {
		t.Fatalf("%d consults active after the transfer to a queue", n)
	}
}

// Sender actions: opening a conversation with unread customer messages sends
// one mark_seen (opening it again sends none); typing sends typing_on at most
// once a second; nothing goes outside the 24-hour window or for a closed
// conversation. The simulator records every sender action.
func TestSenderActionsAPI(t *testing.T) {
	st := newStack(t)
	psid := "3100000000000011"
	_, a, _, conv := st.conversationOnNewPage("Ann", 1, psid, "Are you there?")

	var c conversationView
	st.call("GET", "/api/v1/me/conversations", a.Token, nil, &[]conversationView{})
	if code := st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &c); code != 200 || c.UnreadCount != 0 {
		t.Fatalf("open: %d unread %d", code, c.UnreadCount)
	}
	st.eventually("one mark_seen", 10*time.Second, func() bool { return len(st.sim.SenderActions(psid, "mark_seen")) == 1 })
	// Opened again: nothing unread, so no second mark_seen. Typing (sent within
	// the request) comes after it in the log, which proves the second open sent none.
	st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &c)
	st.eventually("typing_on after the throttle", 10*time.Second, func() bool {
		st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]bool{"on": true}, nil)
		return len(st.sim.SenderActions(psid, "typing_on")) == 1
	})
	if n := len(st.sim.SenderActions(psid, "mark_seen")); n != 1 {
		t.Fatalf("mark_seen sent %d times", n)
	}

	// A burst of typing: at most one sender action a second.
	start := time.Now()
	for i := 0; i < 8; i++ {
		if code := st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]bool{"on": i%2 == 0}, nil); code != 204 {
			t.Fatalf("typing: %d", code)
		}
	}
	all := st.sim.SenderActions(psid)
	// The burst's actions: typing_on waits for its slot, typing_off is dropped
	// when it finds the slot taken; never more than one a second. Typing is
	// sent within its request, so every action of the burst is in the log by
	// now, and none from before it (mark_seen and the first typing_on were
	// seen before it started). Counted, not timed: the claims are a second
	// apart, the simulator's arrival times are not exact.
	elapsed := time.Since(start)
	burst := 0
	for _, a := range all {
		if !a.At.Before(start) {
			burst++
		}
	}
	if burst < 2 || float64(burst) > elapsed.Seconds()+1 {
		t.Fatalf("%d sender actions in %s of typing", burst, elapsed)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]any{}, nil); code != 400 {
		t.Fatalf("typing without on: %d", code)
	}

	// Outside the window nothing is sent (typing is sent within the request, so
	// its answer is the moment to look).
	if _, err := st.db.Exec(`UPDATE conversations SET last_customer_message_at = now() - interval '25 hours', sender_action_at = NULL WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	before := len(st.sim.SenderActions(psid))
	st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]bool{"on": true}, nil)
	st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]bool{"on": false}, nil)
	if n := len(st.sim.SenderActions(psid)); n != before {
		t.Fatalf("sender actions outside the window: %+v", st.sim.SenderActions(psid)[before:])
	}
	// Back in the window but closed: nothing either.
	if _, err := st.db.Exec(`UPDATE conversations SET last_customer_message_at = now(), sender_action_at = NULL WHERE id = $1`, conv); err != nil {
		t.Fatal(err)
	}
	st.agentCloses(a, conv)
	st.call("POST", "/api/v1/conversations/"+conv+"/typing", a.Token, map[string]bool{"on": true}, nil)
	if n := len(st.sim.SenderActions(psid)); n != before {
		t.Fatalf("sender actions for a closed conversation: %+v", st.sim.SenderActions(psid)[before:])
	}
}

// Reactions: the customer's 👍 on the agent's reply is stored on that message
// and reaches the agent live (message.reaction); the agent's reaction to the
// customer's message reaches the simulator as react with the message's id,
// and its removal as unreact.
func TestReactionsAPI(t *testing.T) {
	st := newStack(t)
	psid := "3100000000000021"
	customerMID := "m_customer_" + randomHex(6)
	ch := st.connectPage()
	a, events := st.availableAgent("Ann", 1)
	st.customerSays(ch, psid, "Can I change my address?", customerMID)
	conv := events.next(t, "conversation.assigned", 30*time.Second).Data["conversation_id"].(string)
	reply := st.agentSends(a, conv, "Yes, send it to me here.")
	replyMID, _ := reply["facebook_message_id"].(string)

	st.customerReacts(ch, psid, replyMID, "react", "👍")
	ev := events.next(t, "message.reaction", 30*time.Second)
	if list, _ := ev.Data["reactions"].([]any); ev.Data["message_id"] != reply["id"] || len(list) != 1 ||
		list[0].(map[string]any)["emoji"] != "👍" || list[0].(map[string]any)["by"] != "customer" {
		t.Fatalf("message.reaction: %v", ev.Data)
	}
	var c conversationView
	st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &c)
	var customerMsg string
	for _, m := range c.Messages {
		if m.ID == reply["id"] && (len(m.Reactions) != 1 || m.Reactions[0].Emoji != "👍") {
			t.Fatalf("reply's reactions: %+v", m.Reactions)
		}
		if m.FacebookMessageID == customerMID {
			customerMsg = m.ID
		}
		if m.Kind == "reaction" {
			t.Fatalf("the reaction became a message of its own: %+v", m)
		}
	}

	var raw map[string]any
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/messages/"+reply["id"].(string)+"/reaction", a.Token, map[string]string{"emoji": "❤️"}, &raw); code != 404 {
		t.Fatalf("reaction to the agent's own message: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/messages/"+customerMsg+"/reaction", a.Token, map[string]string{"emoji": ""}, &raw); code != 400 {
		t.Fatalf("reaction without an emoji: %d %v", code, raw)
	}
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/messages/"+customerMsg+"/reaction", a.Token, map[string]string{"emoji": "❤️"}, &raw); code != 200 {
		t.Fatalf("agent reacts: %d %v", code, raw)
	}
	st.eventually("react in the simulator", 10*time.Second, func() bool {
		r := st.sim.SenderActions(psid, "react")
		return len(r) == 1 && r[0].MessageID == customerMID && r[0].Reaction == "❤️"
	})
	if code := st.call("DELETE", "/api/v1/conversations/"+conv+"/messages/"+customerMsg+"/reaction", a.Token, nil, &raw); code != 200 {
		t.Fatalf("agent removes its reaction: %d %v", code, raw)
	}
	st.eventually("unreact in the simulator", 10*time.Second, func() bool {
		r := st.sim.SenderActions(psid, "unreact")
		return len(r) == 1 && r[0].MessageID == customerMID
	})
	// The customer takes back the 👍.
	st.customerReacts(ch, psid, replyMID, "unreact", "")
	st.eventually("the customer's reaction removed", 30*time.Second, func() bool {
		return st.count("message_reactions", "by = 'customer'") == 0
	})

	// Erasing the customer erases the reactions on its conversation's messages.
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/messages/"+customerMsg+"/reaction", a.Token, map[string]string{"emoji": "🙏"}, &raw); code != 200 {
		t.Fatalf("agent reacts again: %d %v", code, raw)
	}
	st.customerReacts(ch, psid, replyMID, "react", "😮")
	st.eventually("the customer's second reaction", 30*time.Second, func() bool { return st.count("message_reactions", "by = 'customer'") == 1 })
	var customer struct {
		Customer struct {
			ID string `json:"id"`
		} `json:"customer"`
	}
	st.call("GET", "/api/v1/conversations/"+conv, a.Token, nil, &customer)
	if code := st.call("DELETE", "/api/v1/customers/"+customer.Customer.ID, st.adminToken, nil, &raw); code != 200 {
		t.Fatalf("erase: %d %v", code, raw)
	}
	if n := st.count("message_reactions", "true") + st.count("agent_events", "conversation_id = $1 AND name = 'message.reaction'", conv); n != 0 {
		t.Fatalf("%d reactions or reaction events left after the erasure", n)
	}
}

// rowJS evaluates to the list row of the conversation (null when absent).
func rowJS(conv string) string {
	return fmt.Sprintf(`document.querySelector('#conv-list .conv-item[data-id=%q]')`, conv)
}

// rowState is a list row as the test reads it: badge, preview and wait colour.
func rowStateJS(conv string) string {
	return fmt.Sprintf(`(() => { const r = %s; if (!r) return "absent";
		const b = r.querySelector(".badge"), w = r.querySelector(".wait");
		return (b ? b.textContent : "0") + "|" + r.querySelector(".conv-preview").textContent + "|" + (w ? w.dataset.wait : "none"); })()`, rowJS(conv))
}

// The desk's list and transcript in Chromium: rows ordered by wait, each with
// the last message's preview, the unread count and the wait colour (amber after
// 2 minutes, red after 5), the same after a reload; opening a conversation
// sends one mark_seen and clears its count for good; typing in the reply box
// sends typing_on; answering ends the wait. A customer's 👍 shows on the
// agent's reply live, and the agent's ❤️ from the picker reaches the simulator
// as react with the customer message's id; both are still there after a reload.
func TestDeskListTypingAndReactionsInBrowser(t *testing.T) {
	st, ch, a := newDeskStack(t, "Ada Lovelace", 3)
	st.setPresence(a, "available")
	jane, joe := "3100000000000031", "3100000000000032"
	janeMID := "m_jane_" + randomHex(6)
	st.customerSays(ch, jane, "Where is my order?", janeMID)
	convJane := st.conversationOf(a, jane)
	st.customerSays(ch, jane, "Hello??", "")
	st.customerSays(ch, joe, "Hi there", "")
	convJoe := st.conversationOf(a, joe)
	st.eventually("both of Jane's messages stored", 30*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1 AND direction = 'inbound'", convJane) == 2
	})
	// Jane has waited six minutes, Joe three: red and amber.
	if _, err := st.db.Exec(`UPDATE messages SET created_at = created_at - CASE conversation_id WHEN $1::uuid THEN interval '6 minutes' ELSE interval '3 minutes' END
		WHERE conversation_id IN ($1, $2)`, convJane, convJoe); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	tb := st.openDesk(b, a, deskObservers)
	want := fmt.Sprintf(`%s === "2|Hello??|red" && %s === "1|Hi there|amber" && document.querySelector("#conv-list .conv-item").dataset.id === %q`,
		rowStateJS(convJane), rowStateJS(convJoe), convJane)
	tb.waitFor("the rows: unread, preview, wait colour, longest wait first", want, 30*time.Second)
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-list-wait.png"), false)
	tb.navigate(st.api.URL + "/desk")
	tb.waitFor("the same rows after a reload", want, 30*time.Second)

	// Opening Jane's conversation reads it: one mark_seen, and the count is gone for good.
	tb.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, convJane))
	tb.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "Hello??")`, 15*time.Second)
	st.eventually("one mark_seen", 10*time.Second, func() bool { return len(st.sim.SenderActions(jane, "mark_seen")) == 1 })
	tb.waitFor("Jane's count cleared", rowStateJS(convJane)+` === "0|Hello??|red"`, 10*time.Second)

	// Typing shows the customer that someone is there.
	tb.typeInto("#reply", "Let me check that for you")
	st.eventually("typing_on", 10*time.Second, func() bool { return len(st.sim.SenderActions(jane, "typing_on")) >= 1 })
	tb.click("#send")
	tb.waitFor("the reply sent", `[...document.querySelectorAll("#messages .msg.out")].some(m => m.querySelector(".text").textContent === "Let me check that for you" && ["sent","delivered","read"].includes(m.querySelector(".msg-status").dataset.status))`, 20*time.Second)
	tb.waitFor("Jane no longer waits", rowStateJS(convJane)+` === "0|You: Let me check that for you|none"`, 10*time.Second)

	// The customer's 👍 on the reply shows on it, live.
	var replyMID string
	st.eventually("the reply's Facebook id", 10*time.Second, func() bool {
		return st.db.QueryRow(`SELECT coalesce(facebook_message_id, '') FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND sender = 'agent'`, convJane).Scan(&replyMID) == nil && replyMID != ""
	})
	st.customerReacts(ch, jane, replyMID, "react", "👍")
	reacted := `[...document.querySelectorAll("#messages .msg.out")].some(m => m.querySelector('.reaction[data-by="customer"][data-emoji="👍"]'))`
	tb.waitFor("the customer's 👍 on the reply", reacted, 30*time.Second)

	// The agent reacts ❤️ to the customer's first message from the picker.
	first := fmt.Sprintf(`#messages .msg.in[data-id=%q]`, st.messageID(janeMID))
	tb.click(first + " .react-toggle")
	tb.click(first + ` .react-choice[data-emoji="❤️"]`)
	mine := first + ` .reaction[data-by="agent"][data-emoji="❤️"]`
	tb.waitFor("the agent's ❤️", fmt.Sprintf(`!!document.querySelector(%q)`, mine), 10*time.Second)
	st.eventually("react in the simulator", 10*time.Second, func() bool {
		r := st.sim.SenderActions(jane, "react")
		return len(r) == 1 && r[0].MessageID == janeMID && r[0].Reaction == "❤️"
	})
	tb.screenshot(filepath.Join(screenshotDir(t), "desk-reactions.png"), false)

	// After a reload: counts, waits and reactions as they were.
	tb.navigate(st.api.URL + "/desk")
	tb.waitFor("the rows after answering and a reload", fmt.Sprintf(`%s === "0|You: Let me check that for you|none" && %s === "1|Hi there|amber" && document.querySelector("#conv-list .conv-item").dataset.id === %q`,
		rowStateJS(convJane), rowStateJS(convJoe), convJoe), 30*time.Second)
	tb.click(fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, convJane))
	tb.waitFor("both reactions after a reload", reacted+fmt.Sprintf(` && !!document.querySelector(%q)`, mine), 15*time.Second)
	if n := len(st.sim.SenderActions(jane, "mark_seen")); n != 1 {
		t.Fatalf("mark_seen sent %d times; nothing was unread on the second opening", n)
	}
	b.requireNoProblems()
}

// messageID is the stored id of the message with this Facebook id.
func (st *stack) messageID(mid string) string {
	st.t.Helper()
	var id string
	if err := st.db.QueryRow(`SELECT id FROM messages WHERE facebook_message_id = $1`, mid).Scan(&id); err != nil {
		st.t.Fatal(err)
	}
	return id
}

// aliceHasACustomer is where the consult tests start: Alice (capacity 1) has the
// conversation of the customer psid, who said says; Bart (capacity 2) is
// available, so the next customer is his.
func aliceHasACustomer(t *testing.T, psid, says string) (st *stack, ch channel, alice, bart agent, conv string) {
	t.Helper()
	st, ch = newPageStack(t)
	alice = st.createAgent("Alice Moreau", 1)
	bart = st.createAgent("Bart Simpson", 2)
	st.setPresence(alice, "available")
	st.customerSays(ch, psid, says, "")
	conv = st.conversationOf(alice, psid)
	st.setPresence(bart, "available")
	return st, ch, alice, bart, conv
}

// Consult in Chromium: Alice invites Bart from the desk; Bart's desk lists the
// conversation as a consult and shows it live (a new customer message arrives
// without a reload); Bart's note reaches Alice's transcript live; Bart cannot
// reply; consulting takes none of Bart's capacity (the next customer is
// assigned to him); Alice turns the consult into a transfer, and Bart can reply.
func TestDeskConsultInBrowser(t *testing.T) {
	requireChromium(t)
	jane, marcus := "3100000000000041", "3100000000000042"
	st, ch, alice, bart, conv := aliceHasACustomer(t, jane, "My parcel never came")

	b := startBrowser(t)
	ta, tbart := st.openDesk(b, alice, deskObservers), st.openDesk(b, bart, deskObservers)
	ta.markDocument() // what follows is live
	tbart.markDocument()
	row := fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, conv)

	ta.waitFor("Alice's conversation", fmt.Sprintf(`!!document.querySelector(%q)`, row), 15*time.Second)
	ta.click(row)
	ta.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "My parcel never came")`, 15*time.Second)
	ta.click("#consult-conv")
	ta.waitFor("Bart offered", fmt.Sprintf(`[...document.querySelectorAll("#consult-target option")].some(o => o.value === %q)`, "agent:"+bart.ID), 10*time.Second)
	ta.mustEval(fmt.Sprintf(`document.querySelector("#consult-target").value = %q`, "agent:"+bart.ID), nil)
	ta.click("#consult-send")
	ta.waitFor("Bart in the consults bar", fmt.Sprintf(`!document.querySelector("#consult-bar").hidden && !!document.querySelector('#consult-bar .consultant[data-agent=%q]')`, bart.ID), 10*time.Second)

	// Bart's desk: the conversation, marked as a consult, live.
	tbart.waitFor("the consulted conversation in Bart's list", fmt.Sprintf(`!!document.querySelector(%q) && !!document.querySelector(%q + " .pill-consult")`, row, row), 15*time.Second)
	tbart.click(row)
	tbart.waitFor("the transcript for the consultant", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "My parcel never came") && !document.querySelector("#consult-bar").hidden`, 15*time.Second)
	st.customerSays(ch, jane, "It was due on Monday", "")
	tbart.waitFor("the customer's new message, live", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "It was due on Monday")`, 30*time.Second)
	tbart.typeInto("#reply", "Carrier lost two parcels this week")
	tbart.waitFor("Send stays off for the consultant", `document.querySelector("#send").disabled && !document.querySelector("#reply").disabled`, 5*time.Second)
	tbart.click("#add-note")
	ta.waitFor("Bart's note in Alice's transcript, live", `[...document.querySelectorAll("#messages .msg.note .text")].some(e => e.textContent === "Carrier lost two parcels this week")`, 15*time.Second)
	tbart.screenshot(filepath.Join(screenshotDir(t), "desk-consultant.png"), false)

	// No capacity taken: Alice is full, so the next customer is Bart's.
	st.customerSays(ch, marcus, "Hello?", "")
	st.conversationOf(bart, marcus)

	// Alice hands the conversation to Bart.
	ta.click(fmt.Sprintf(`#consult-bar .consultant[data-agent=%q] .consult-transfer`, bart.ID))
	ta.waitFor("Alice's pane says it went", `!document.querySelector("#transferred-away").hidden`, 15*time.Second)
	tbart.waitFor("Bart owns it: no consult mark, reply possible", fmt.Sprintf(`!!document.querySelector(%q) && !document.querySelector(%q + " .pill-consult") && document.querySelector("#consult-bar").hidden && !document.querySelector("#reply").disabled`, row, row), 15*time.Second)
	if st.count("conversations", "id = $1 AND agent_id = $2", conv, bart.ID) != 1 || st.count("conversation_consults", "conversation_id = $1 AND status = 'transferred'", conv) != 1 {
		t.Fatal("the consult did not become a transfer")
	}
	var same bool
	if tbart.mustEval(`window.__sameDocument === true`, &same); !same {
		t.Fatal("Bart's desk was reloaded: the consult did not arrive live")
	}
	b.requireNoProblems()
}

// The owner's desk learns of a consult's transfer done elsewhere (the agent's
// other tab, here the API) from its events alone. consult.ended (status
// transferred) is committed before conversation.transferred, in the transfer's
// transaction, and comes first: the desk must not read the conversation then,
// since it is no longer the agent's (404) and the answer would empty the pane
// that should say where it went. That read happened under the earlier code
// (TestDeskConsultInBrowser caught it only under load); here the transfer does
// not come from the desk, so nothing but the events can tell it.
func TestDeskConsultTransferredElsewhereKeepsThePaneInBrowser(t *testing.T) {
	requireChromium(t)
	jane, marcus := "3100000000000061", "3100000000000062"
	st, ch, alice, bart, conv := aliceHasACustomer(t, jane, "Where is my refund?")
	var consult struct{ ID string }
	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults", alice.Token, map[string]string{"agent_id": bart.ID}, &consult); code != 201 {
		t.Fatalf("invite Bart: %d", code)
	}

	b := startBrowser(t)
	ta := st.openDesk(b, alice, "")
	row := fmt.Sprintf(`#conv-list .conv-item[data-id=%q]`, conv)
	ta.waitFor("Alice's conversation", fmt.Sprintf(`!!document.querySelector(%q)`, row), 15*time.Second)
	ta.click(row)
	ta.waitFor("the transcript", `[...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "Where is my refund?")`, 15*time.Second)
	ta.mustEval(`performance.clearResourceTimings()`, nil)

	if code := st.call("POST", "/api/v1/conversations/"+conv+"/consults/"+consult.ID+"/transfer", alice.Token, map[string]string{}, nil); code != 200 {
		t.Fatalf("transfer to Bart: %d", code)
	}
	ta.waitFor("the pane says where it went", `!document.querySelector("#transferred-away").hidden && document.querySelector("#transferred-away").textContent.includes("Bart Simpson")`, 15*time.Second)
	// A later event has reached the desk, so any read the transfer's events
	// started has long been answered: Alice has room again, and the next
	// customer is hers.
	st.customerSays(ch, marcus, "Hello?", "")
	next := st.conversationOf(alice, marcus)
	ta.waitFor("the next customer in Alice's list", fmt.Sprintf(`!!document.querySelector('#conv-list .conv-item[data-id=%q]')`, next), 15*time.Second)
	var state struct {
		Notice string
		Shown  bool
		Reads  []string
	}
	ta.mustEval(fmt.Sprintf(`({
		notice: document.querySelector("#transferred-away").hidden ? "" : document.querySelector("#transferred-away").textContent,
		shown: [...document.querySelectorAll("#messages .msg.in .text")].some(e => e.textContent === "Where is my refund?"),
		reads: performance.getEntriesByType("resource").map(e => new URL(e.name).pathname).filter(p => p === "/api/v1/conversations/%s"),
	})`, conv), &state)
	if !strings.Contains(state.Notice, "Bart Simpson") || !state.Shown {
		t.Fatalf("Alice's pane after the transfer: notice %q, transcript shown %v", state.Notice, state.Shown)
	}
	if len(state.Reads) != 0 {
		t.Fatalf("the desk read the transferred conversation: %v", state.Reads)
	}
	b.requireNoProblems()
}

// The list API: each conversation carries its last message, the count of
// customer messages the agent has not read, and since when the customer waits
// (its oldest unanswered message), with its workstream's wait colours, which an
// admin sets per workstream; the list orders by that wait, and answering ends it.
func TestConversationListRowsAPI(t *testing.T) {
	st := newStack(t)
	ch, a, events, first := st.conversationOnNewPage("Ann", 3, "3100000000000051", "First question")
	st.customerSays(ch, "3100000000000051", "Second question", "")
	second := st.customerAssigned(events, ch, "3100000000000052", "Other customer")
	st.eventually("both of the first customer's messages", 30*time.Second, func() bool {
		return st.count("messages", "conversation_id = $1 AND direction = 'inbound'", first) == 2
	})
	if _, err := st.db.Exec(`UPDATE messages SET created_at = created_at - interval '4 minutes' WHERE conversation_id = $1`, second); err != nil {
		t.Fatal(err)
	}
	type row struct {
		conversationView
		WaitColours struct {
			Amber int `json:"amber_s"`
			Red   int `json:"red_s"`
		} `json:"wait_colours"`
	}
	list := func() []row {
		var l []row
		if code := st.call("GET", "/api/v1/me/conversations", a.Token, nil, &l); code != 200 || len(l) != 2 {
			t.Fatalf("list: %d %+v", code, l)
		}
		return l
	}
	l := list()
	if l[0].ID != second || l[1].ID != first {
		t.Fatalf("not ordered by wait: %s, %s", l[0].ID, l[1].ID)
	}
	if r := l[1]; r.UnreadCount != 2 || r.LastMessage == nil || r.LastMessage.Text != "Second question" || r.WaitingSince == nil ||
		r.WaitColours.Amber != 120 || r.WaitColours.Red != 300 {
		t.Fatalf("first customer's row: %+v", r)
	}
	if r := l[0]; r.UnreadCount != 1 || time.Since(*r.WaitingSince) < 4*time.Minute {
		t.Fatalf("second customer's row: %+v", r)
	}

	var wss []struct{ ID string }
	st.call("GET", "/api/v1/accounts/"+ch.AccountID+"/workstreams", st.adminToken, nil, &wss)
	if len(wss) != 1 {
		t.Fatalf("workstreams: %+v", wss)
	}
	var raw map[string]any
	if code := st.call("PUT", "/api/v1/workstreams/"+wss[0].ID+"/wait-colours", st.adminToken, map[string]int{"amber_s": 300, "red_s": 300}, &raw); code != 400 {
		t.Fatalf("amber not before red: %d %v", code, raw)
	}
	if code := st.call("PUT", "/api/v1/workstreams/"+wss[0].ID+"/wait-colours", st.adminToken, map[string]int{"amber_s": 60, "red_s": 180}, &raw); code != 200 || raw["amber_s"] != 60.0 {
		t.Fatalf("set wait colours: %d %v", code, raw)
	}
	if r := list()[0]; r.WaitColours.Amber != 60 || r.WaitColours.Red != 180 {
		t.Fatalf("the list's wait colours: %+v", r.WaitColours)
	}

	// Answered: nobody waits on the second conversation; opened: nothing unread.
	st.agentSends(a, second, "Here to help")
	st.call("GET", "/api/v1/conversations/"+first, a.Token, nil, nil)
	l = list()
	if l[0].ID != first || l[0].UnreadCount != 0 || l[0].WaitingSince == nil || l[1].WaitingSince != nil || l[1].UnreadCount != 0 ||
		l[1].LastMessage.Text != "Here to help" {
		t.Fatalf("after answering and opening: %+v", l)
	}
}
