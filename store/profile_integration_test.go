//go:build integration

package store

import (
	"encoding/json"
	"testing"
	"time"
)

// A new customer is shown by the stand-in name until the profile (fetched beside
// routing) arrives; then the agent who has the conversation is told by
// customer.updated, once per saved profile, and a conversation nobody has yet
// tells nobody.
func TestSavedProfileTellsTheAgentWhoHasTheConversation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.page()
	queued := f.waiting(p)
	var customerID, psid, name string
	f.must(f.s.DB.QueryRowContext(f.ctx,
		"SELECT cu.id, cu.psid, cu.name FROM conversations c JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1", queued).
		Scan(&customerID, &psid, &name))
	if name != FallbackName(psid) {
		t.Fatalf("a new customer is named %q, want the stand-in %q", name, FallbackName(psid))
	}
	agentID := f.agent(1)
	f.pickMode(p)
	if _, err := f.s.Pick(f.ctx, queued, agentID); err != nil {
		t.Fatal(err)
	}

	f.must(f.s.SaveProfile(f.ctx, customerID, "Mia Wong", "https://cdn.example/mia.jpg", "en_GB"))
	rows, err := f.s.DB.QueryContext(f.ctx,
		"SELECT agent_id, data FROM agent_events WHERE name = 'customer.updated' AND conversation_id = $1", queued)
	f.must(err)
	defer rows.Close()
	var events int
	for rows.Next() {
		var to string
		var data []byte
		f.must(rows.Scan(&to, &data))
		var body struct {
			ConversationID string `json:"conversation_id"`
			Customer       struct {
				ID, Name, Locale string
			} `json:"customer"`
		}
		f.must(json.Unmarshal(data, &body))
		if to != agentID || body.ConversationID != queued || body.Customer.ID != customerID || body.Customer.Name != "Mia Wong" || body.Customer.Locale != "en_GB" {
			t.Errorf("customer.updated to %s: %s", to, data)
		}
		events++
	}
	f.must(rows.Err())
	if events != 1 {
		t.Fatalf("%d customer.updated events, want 1", events)
	}

	// Nobody has this one yet: nobody is told (the assignment reads the name).
	other := f.waiting(p)
	var otherCustomer string
	f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT customer_id FROM conversations WHERE id = $1", other).Scan(&otherCustomer))
	f.must(f.s.SaveProfile(f.ctx, otherCustomer, "Tom", "", ""))
	var n int
	f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT count(*) FROM agent_events WHERE name = 'customer.updated' AND conversation_id = $1", other).Scan(&n))
	if n != 0 {
		t.Fatalf("%d customer.updated events for a conversation nobody has, want 0", n)
	}
}

// A profile that arrives while the agent links the customer to a contact waits
// for the link and saves; it does not deadlock with it. The link holds the
// customer's row and then writes an audit row naming the conversation (whose key
// check locks the conversation's row); the profile used to lock the conversation
// first and then wait for the customer, and one of the two failed.
func TestASavedProfileWaitsForALinkWithoutDeadlock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.page()
	conversationID := f.waiting(p)
	agentID := f.agent(1)
	f.pickMode(p)
	if _, err := f.s.Pick(f.ctx, conversationID, agentID); err != nil {
		t.Fatal(err)
	}
	var customerID string
	f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT customer_id FROM conversations WHERE id = $1", conversationID).Scan(&customerID))

	// The link's first half, as LinkContact runs it: a new contact, then the
	// customer's row lock.
	link, err := f.s.DB.BeginTx(f.ctx, nil)
	f.must(err)
	defer link.Rollback() //nolint:errcheck
	contact, err := createContact(f.ctx, link, Contact{Name: "Mia Wong"})
	f.must(err)
	_, err = lockCustomerContact(f.ctx, link, customerID)
	f.must(err)

	saved := make(chan error, 1)
	go func() { saved <- f.s.SaveProfile(f.ctx, customerID, "Mia Wong", "", "en_GB") }()
	// Until the profile's transaction waits for a lock the link holds.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if f.number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") > 0 {
			break
		}
		select {
		case err := <-saved:
			t.Fatalf("the profile saved while the link held the customer: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the profile never waited for the link")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// The link's second half: the audit row's key check on the conversation and
	// the customer's new contact. Postgres reports a deadlock within its
	// deadlock_timeout (1 s) when the profile holds the conversation.
	who := auditActor{agentID: agentID, conversationID: conversationID}
	f.must(auditLink(f.ctx, link, "link", customerID, contact.ID, who, "contact created from the conversation"))
	f.must(setCustomerContact(f.ctx, link, customerID, &contact.ID))
	f.must(link.Commit())
	if err := <-saved; err != nil {
		t.Fatalf("the profile failed behind the link: %v", err)
	}
	if n := f.number("SELECT count(*) FROM customers WHERE id = $1 AND contact_id = $2 AND name = 'Mia Wong'", customerID, contact.ID); n != 1 {
		t.Fatal("the customer lacks the link or the profile")
	}
	if n := f.number("SELECT count(*) FROM agent_events WHERE name = 'customer.updated' AND conversation_id = $1", conversationID); n != 1 {
		t.Fatalf("%d customer.updated events, want 1", n)
	}
}
