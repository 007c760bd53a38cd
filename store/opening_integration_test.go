//go:build integration

package store

import (
	"context"
	"database/sql"
	"testing"

	"github.com/google/uuid"
)

// OpenConversation is the opening's first step alone (openConversation, in a
// transaction of its own), for tests that route and assign by other means.
func (s *Store) OpenConversation(ctx context.Context, conversationID, pageUUID, pageID, psid string) (o Opening, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		o, err = openConversation(ctx, tx, conversationID, pageUUID, pageID, psid)
		return err
	})
	return o, err
}

// Opening a conversation answers its workstream's settings from the same
// transaction: the bot (and the conversation starts with it), the auto-close
// limit, the timeouts, and whether routing waits for the profile.
func TestOpenConversationAnswersTheWorkstreamSettings(t *testing.T) {
	f := newFixture(t)
	p := f.page()

	plain, err := f.s.OpenConversation(f.ctx, uuid.NewString(), p.ID, p.PageID, "psid-"+randomHex(6))
	f.must(err)
	if !plain.Served || plain.Bot || plain.RoutesByLocale || plain.AutoCloseHours != 0 || plain.QueueID != p.DefaultQueueID || plain.CustomerID == "" {
		t.Fatalf("a plain workstream's opening: %+v (default queue %s)", plain, p.DefaultQueueID)
	}

	hours, bot := 48, "http://127.0.0.1:1/bot"
	f.setRules(p, func(w *Workstream) {
		w.AutoCloseAfterHours = &hours
		w.BotURL = &bot
		w.Timeouts = Timeouts{CustomerSeconds: 600, AgentRemindSeconds: 120, AgentReofferSeconds: 300}
	})
	_, err = f.s.SaveRoutingRules(f.ctx, p.WorkstreamID, []RoutingRule{{Name: "Dutch", QueueID: p.DefaultQueueID,
		Conditions: []Condition{{Field: "customer.locale", Operator: "is", Value: []byte(`"nl"`)}}}})
	f.must(err)
	withBot := uuid.NewString()
	o, err := f.s.OpenConversation(f.ctx, withBot, p.ID, p.PageID, "psid-"+randomHex(6))
	f.must(err)
	want := Timeouts{CustomerSeconds: 600, AgentRemindSeconds: 120, AgentReofferSeconds: 300}
	if !o.Served || !o.Bot || o.AutoCloseHours != 48 || o.Timeouts != want {
		t.Fatalf("opening with a bot: %+v", o)
	}
	if o.RoutesByLocale {
		t.Fatal("a conversation the bot has first waits for no profile to be routed")
	}
	if n := f.number("SELECT count(*) FROM conversations WHERE id = $1 AND status = 'bot' AND queue_id IS NULL", withBot); n != 1 {
		t.Fatal("the conversation does not start with the bot")
	}

	none := ""
	f.setRules(p, func(w *Workstream) { w.BotURL = &none })
	psid := "psid-" + randomHex(6)
	first := uuid.NewString()
	o, err = f.s.OpenConversation(f.ctx, first, p.ID, p.PageID, psid)
	f.must(err)
	if o.Bot || !o.RoutesByLocale {
		t.Fatalf("a locale rule, a customer without a profile: %+v", o)
	}
	// A retry answers the same and creates nothing more.
	again, err := f.s.OpenConversation(f.ctx, first, p.ID, p.PageID, psid)
	f.must(err)
	if again != o {
		t.Fatalf("retry answered %+v, first %+v", again, o)
	}
	if n := f.number("SELECT count(*) FROM conversations WHERE customer_id = $1", o.CustomerID); n != 1 {
		t.Fatalf("%d conversations after a retry", n)
	}
	f.exec("UPDATE customers SET profile_fetched_at = now() WHERE id = $1", o.CustomerID)
	o, err = f.s.OpenConversation(f.ctx, uuid.NewString(), p.ID, p.PageID, psid)
	f.must(err)
	if o.RoutesByLocale {
		t.Fatal("the customer's profile is known: routing need not wait for it")
	}

	// Settings read later come from the conversation's own workstream, not the
	// one its page has moved to since.
	other, err := f.s.CreateWorkstream(f.ctx, Workstream{AccountID: p.AccountID, Name: "Other",
		DefaultQueueID: p.DefaultQueueID, DistributionMode: "push", CapacityUnits: 1, BotURL: &bot})
	f.must(err)
	f.exec("UPDATE pages SET workstream_id = $2 WHERE id = $1", p.ID, other.ID)
	url, err := f.s.ConversationBotURL(f.ctx, first)
	f.must(err)
	closeAfter, err := f.s.ConversationAutoClose(f.ctx, first)
	f.must(err)
	if url != "" || closeAfter != 48 {
		t.Fatalf("after the page moved: bot %q, auto-close %d h; want the conversation's workstream's (none, 48)", url, closeAfter)
	}

	f.exec("UPDATE pages SET provisioning_status = 'deleting' WHERE id = $1", p.ID)
	gone, err := f.s.OpenConversation(f.ctx, uuid.NewString(), p.ID, p.PageID, "psid-"+randomHex(6))
	f.must(err)
	if gone.Served {
		t.Fatal("a page being deleted serves a new conversation")
	}
}
