//go:build integration

package e2e

import (
	"fmt"
	"testing"
	"time"

	"fbchannel/simulator"
)

// Connecting a page imports its recent Messenger history (issue 15, item 6):
// three threads of the last 30 days come in as closed conversations with
// their transcripts, once, although the worker is stopped mid-import (while
// Facebook fails the last thread) and started again; the thread from 40 days
// ago stays out. The page shows the import's progress.
func TestConnectingAPageImportsItsHistoryOnce(t *testing.T) {
	st := newStack(t)
	appID, secret := "app-"+randomHex(4), "secret-"+randomHex(16)
	pageID, token := fmt.Sprint(200000000000000+time.Now().UnixNano()%899999999999), "EAAB"+randomHex(20)
	st.sim.RegisterApp(appID, secret)
	st.sim.RegisterPage(simulator.Page{PageID: pageID, Name: "History Page", AccessToken: token, AppID: appID})
	now := time.Now()
	thread := func(id string, n int, age time.Duration) simulator.HistoryThread {
		th := simulator.HistoryThread{ID: id + "_" + pageID, PSID: "psid-" + id + "-" + randomHex(3), CustomerName: "Customer " + id}
		for i := range n {
			th.Messages = append(th.Messages, simulator.HistoryMessage{MID: fmt.Sprintf("m_%s_%d_%s", id, i, pageID),
				At: now.Add(-age + time.Duration(i)*time.Minute), FromPage: i%2 == 1, Text: fmt.Sprintf("earlier message %d", i)})
		}
		return th
	}
	threads := []simulator.HistoryThread{
		thread("t1", 2, time.Hour), thread("t2", 3, 24*time.Hour), thread("t3", 4, 5*24*time.Hour),
		thread("told", 2, 40*24*time.Hour),
	}
	st.sim.SetHistory(pageID, threads)
	// Facebook fails the oldest recent thread until the worker has been restarted.
	st.sim.AddFault(simulator.Fault{Method: "GET", PathSuffix: "/" + threads[2].ID + "/messages", HTTPStatus: 500, Code: 2, Message: "(#2) Service temporarily unavailable"})

	var acct struct{ ID string }
	if code := st.call("POST", "/api/v1/accounts", st.adminToken, map[string]string{"name": "Acme", "app_id": appID, "app_secret": secret}, &acct); code != 201 {
		t.Fatalf("create account: %d", code)
	}
	var page struct{ ID string }
	if code := st.call("POST", "/api/v1/accounts/"+acct.ID+"/pages", st.adminToken,
		map[string]any{"name": "Acme Support", "page_id": pageID, "access_token": token, "import_history_days": 30}, &page); code != 201 {
		t.Fatalf("create page: %d", code)
	}
	messages := func() int {
		return st.count("messages m JOIN conversations c ON c.id = m.conversation_id", "c.page_uuid = $1 AND c.facebook_thread_id IS NOT NULL", page.ID)
	}
	st.eventually("the first two threads imported", 60*time.Second, func() bool { return messages() == 5 })
	st.stopWorker()
	st.sim.ClearFaults()
	st.startWorker()

	type importState struct {
		Status        string `json:"status"`
		Days          int    `json:"days"`
		Conversations int    `json:"conversations"`
		Messages      int    `json:"messages"`
		LastError     string `json:"last_error"`
	}
	var got struct {
		ImportHistoryDays int          `json:"import_history_days"`
		Import            *importState `json:"import"`
	}
	st.eventually("the import is done", 60*time.Second, func() bool {
		st.call("GET", "/api/v1/pages/"+page.ID, st.adminToken, nil, &got)
		if got.Import != nil && got.Import.Status == "failed" {
			t.Fatalf("import failed: %s", got.Import.LastError)
		}
		return got.Import != nil && got.Import.Status == "done"
	})
	if got.ImportHistoryDays != 30 || *got.Import != (importState{Status: "done", Days: 30, Conversations: 3, Messages: 9}) {
		t.Errorf("page import %d days, %+v; want 30 days, done with 3 conversations and 9 messages", got.ImportHistoryDays, *got.Import)
	}
	if n := messages(); n != 9 {
		t.Errorf("%d imported messages; want 9, each once", n)
	}
	if n := st.count("conversations", "page_uuid = $1 AND status = 'closed' AND close_reason = 'imported'", page.ID); n != 3 {
		t.Errorf("%d imported conversations; want 3", n)
	}
	if n := st.count("customers", "page_id = $1 AND psid = $2", pageID, threads[3].PSID); n != 0 {
		t.Errorf("the 40-day-old thread's customer was imported")
	}
}
