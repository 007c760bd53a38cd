//go:build integration

package store

import (
	"encoding/json"
	"testing"
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
