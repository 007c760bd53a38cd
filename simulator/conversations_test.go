package simulator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"fbchannel/graph"
)

// The Conversations API through the graph client: threads newest first with
// their customer, messages newest first in pages, the limit of 2 calls per
// second per page (error 613), and only the page's own threads.
func TestConversationsAPI(t *testing.T) {
	sim, c, _ := setup(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	long := HistoryThread{ID: "t_long", PSID: "psid-long", CustomerName: "Lena"}
	for i := range 5 {
		long.Messages = append(long.Messages, HistoryMessage{MID: fmt.Sprint("m_", i), At: now.Add(time.Duration(i-10) * time.Hour), FromPage: i == 4, Text: fmt.Sprint("text ", i)})
	}
	long.Messages[0].ImageURL = "https://cdn.example/a.jpg"
	recent := HistoryThread{ID: "t_recent", PSID: "psid-recent", Messages: []HistoryMessage{{MID: "m_r", At: now, Text: "hi"}}}
	sim.SetHistory(pageID, []HistoryThread{long, recent})
	sim.SetHistoryRateLimit(false)

	threads, after, err := c.Conversations(ctx, pageID, "", 1, cred)
	if err != nil || len(threads) != 1 || threads[0].ID != "t_recent" || after == "" {
		t.Fatalf("first page: %+v, %q, %v", threads, after, err)
	}
	if upd, err := graph.ParseTime(threads[0].UpdatedTime); err != nil || !upd.Equal(now) {
		t.Errorf("updated_time %q (%v); want %s", threads[0].UpdatedTime, err, now)
	}
	threads, after, err = c.Conversations(ctx, pageID, after, 1, cred)
	if err != nil || len(threads) != 1 || threads[0].ID != "t_long" || after != "" {
		t.Fatalf("second page: %+v, %q, %v", threads, after, err)
	}
	if p := threads[0].Participants.Data; len(p) != 2 || p[0].ID != "psid-long" || p[0].Name != "Lena" || p[1].ID != pageID {
		t.Errorf("participants %+v", p)
	}

	var all []graph.ThreadMessage
	for after := ""; ; {
		msgs, next, err := c.ConversationMessages(ctx, "t_long", after, 2, cred)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, msgs...)
		if after = next; after == "" {
			break
		}
	}
	if len(all) != 5 || all[0].ID != "m_4" || all[0].From.ID != pageID || all[4].ID != "m_0" || all[4].From.ID != "psid-long" {
		t.Fatalf("messages %+v; want m_4 (from the page) .. m_0, newest first", all)
	}
	if a := all[4].Attachments.Data; len(a) != 1 || a[0].ImageData == nil || a[0].ImageData.URL != "https://cdn.example/a.jpg" {
		t.Errorf("attachments %+v", a)
	}

	if _, _, err := c.ConversationMessages(ctx, "t_other_page", "", 2, cred); err == nil {
		t.Error("a thread of no page of the token was answered")
	}

	sim.SetHistoryRateLimit(true)
	start := time.Now()
	for i := range 3 {
		_, _, err := c.Conversations(ctx, pageID, "", 1, cred)
		if i < 2 && err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// A machine so slow that the three calls took a second proves nothing.
		if i == 2 && time.Since(start) < time.Second {
			wantGraphError(t, err, 613, 0)
		}
	}
}
