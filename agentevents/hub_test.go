//go:build integration

package agentevents_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"fbchannel/agentevents"
	"fbchannel/schema/schematest"
)

// testDSN is the server the integration tests use (DATABASE_URL, or the local
// default), its postgres database, with application_name set so that this test's listener is the one it
// finds in pg_stat_activity.
func testDSN(t *testing.T, appName string) string {
	t.Helper()
	u := schematest.ServerURL(t, "postgres")
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return u.String()
}

// rung waits for a ring; the wait is a bound on a failing test, not a timing claim.
func rung(s *agentevents.Subscription) bool {
	select {
	case <-s.Wake():
		return true
	case <-time.After(30 * time.Second):
		return false
	}
}

func listening(t *testing.T, hub *agentevents.Hub) {
	t.Helper()
	select {
	case <-hub.Listening():
	case <-time.After(30 * time.Second):
		t.Fatal("the hub never listened")
	}
}

func drain(subs ...*agentevents.Subscription) {
	for _, s := range subs {
		select {
		case <-s.Wake():
		default:
		}
	}
}

// listenerPID is the backend of the LISTEN connection named appName.
func listenerPID(t *testing.T, db *sql.DB, appName string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var pid int
		err := db.QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, appName).Scan(&pid)
		if err == nil {
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no LISTEN connection named %s", appName)
	return 0
}

// notify sends what a write for agentID sends on commit.
func notify(t *testing.T, db *sql.DB, agentID string) {
	t.Helper()
	if _, err := db.Exec(`SELECT pg_notify($1, $2)`, agentevents.Channel, agentID); err != nil {
		t.Fatal(err)
	}
}

// quiet says that no ring is waiting on s.
func quiet(s *agentevents.Subscription) bool {
	select {
	case <-s.Wake():
		return false
	default:
		return true
	}
}

// startHub starts a hub named apart (see testDSN) whose safety poll never
// comes in a test, and opens db on the same database to send notifications;
// both close when the test ends.
func startHub(t *testing.T) (hub *agentevents.Hub, db *sql.DB, appName string) {
	t.Helper()
	appName = "hub-test-" + time.Now().Format("150405.000000")
	dsn := testDSN(t, appName)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hub = agentevents.Listen(dsn, agentevents.Options{SafetyPoll: time.Hour})
	t.Cleanup(hub.Close)
	return hub, db, appName
}

func TestHubRingsTheNotifiedAgentsStreams(t *testing.T) {
	hub, db, _ := startHub(t)
	if hub.SafetyPoll() != time.Hour {
		t.Fatalf("safety poll %s", hub.SafetyPoll())
	}
	a := hub.Subscribe("7F9C0E4A-0000-4000-8000-000000000001") // ids compare case-insensitively
	defer a.Close()
	a2 := hub.Subscribe("7f9c0e4a-0000-4000-8000-000000000001")
	defer a2.Close()
	b := hub.Subscribe("7f9c0e4a-0000-4000-8000-000000000002")
	defer b.Close()
	listening(t, hub)
	drain(a, a2, b) // the catch-up ring after LISTEN

	notify(t, db, "7f9c0e4a-0000-4000-8000-000000000001")
	if !rung(a) || !rung(a2) {
		t.Fatal("a notification for agent 1 did not ring both of its streams")
	}
	// Agent 2 was not notified: a notification for it, sent after, rings it, and
	// at that point its channel holds exactly that one ring.
	notify(t, db, "7f9c0e4a-0000-4000-8000-000000000002")
	if !rung(b) {
		t.Fatal("a notification for agent 2 did not ring its stream")
	}
	if !quiet(a) {
		t.Fatal("agent 1's stream rang for agent 2's notification")
	}

	// A closed subscription is not rung (its channel stays empty).
	a2.Close()
	notify(t, db, "7f9c0e4a-0000-4000-8000-000000000001")
	if !rung(a) {
		t.Fatal("agent 1's remaining stream did not ring")
	}
	if !quiet(a2) {
		t.Fatal("a closed subscription rang")
	}
}

// Notifications sent while the LISTEN connection is down are lost; when it comes
// back every stream is rung so that it reads what it missed.
func TestHubRingsEveryStreamWhenItsConnectionComesBack(t *testing.T) {
	hub, db, appName := startHub(t)
	s := hub.Subscribe("7f9c0e4a-0000-4000-8000-000000000003")
	defer s.Close()
	listening(t, hub)
	drain(s)
	pid := listenerPID(t, db, appName)

	ctx := context.Background()
	var terminated bool
	// The timeout form waits until the backend is gone.
	if err := db.QueryRowContext(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate the listener: %v %v", terminated, err)
	}
	if !rung(s) {
		t.Fatal("no ring after the LISTEN connection came back")
	}
	if again := listenerPID(t, db, appName); again == pid {
		t.Fatalf("the listener is still backend %d", pid)
	}
	// And it listens again.
	notify(t, db, "7f9c0e4a-0000-4000-8000-000000000003")
	if !rung(s) {
		t.Fatal("no ring for a notification after the reconnection")
	}
}

// watcher records what the hub tells a Watcher, in order.
type watcher struct{ calls chan string }

func (w *watcher) Channel() string         { return "hub_test_watch" }
func (w *watcher) Notified(payload string) { w.calls <- "notified " + payload }
func (w *watcher) Listening(up bool)       { w.calls <- map[bool]string{true: "up", false: "down"}[up] }

// next waits for the next call; the wait bounds a failing test.
func (w *watcher) next(t *testing.T) string {
	t.Helper()
	select {
	case c := <-w.calls:
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("the hub told the watcher nothing")
		return ""
	}
}

// A watcher of another channel on the hub's connection hears its notifications
// (not the agents'), and is told when the connection goes and comes back (what
// was sent meanwhile is lost), before it hears anything after that.
func TestHubTellsItsWatchersOfNotificationsAndOfTheConnection(t *testing.T) {
	w := &watcher{calls: make(chan string, 16)}
	appName := "hub-watch-" + time.Now().Format("150405.000000")
	dsn := testDSN(t, appName)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	hub := agentevents.Listen(dsn, agentevents.Options{SafetyPoll: time.Hour, Watchers: []agentevents.Watcher{w}})
	t.Cleanup(hub.Close)
	listening(t, hub)
	if got := w.next(t); got != "up" {
		t.Fatalf("first call %q, want up", got)
	}
	notify(t, db, "not-for-the-watcher")
	if _, err := db.Exec(`SELECT pg_notify($1, 'v42')`, w.Channel()); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t); got != "notified v42" {
		t.Fatalf("got %q, want the watcher's notification only", got)
	}

	pid := listenerPID(t, db, appName)
	var terminated bool
	if err := db.QueryRow(`SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminate the listener: %v %v", terminated, err)
	}
	if got := w.next(t); got != "down" {
		t.Fatalf("after the connection was lost: %q, want down", got)
	}
	if got := w.next(t); got != "up" {
		t.Fatalf("after the connection came back: %q, want up", got)
	}
	if _, err := db.Exec(`SELECT pg_notify($1, 'v43')`, w.Channel()); err != nil {
		t.Fatal(err)
	}
	if got := w.next(t); got != "notified v43" {
		t.Fatalf("after the reconnection: %q", got)
	}
}
