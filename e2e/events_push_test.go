//go:build integration

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"fbchannel/agentevents"
)

// pushStarter is another starter of a stack with its own hub, whose LISTEN
// connection carries its own application_name (so a test can find and end it).
type pushStarter struct {
	url     string
	appName string
	stop    func()
}

// agentOnPushStarter creates an agent of capacity 1 and opens its event stream
// on a new push starter (whose safety poll never comes in the test).
func (st *stack) agentOnPushStarter(name string) (agent, *pushStarter, *sse) {
	st.t.Helper()
	a := st.createAgent(name, 1)
	p := st.startPushStarter(time.Hour)
	return a, p, st.openEventsAt(p.url, a, "")
}

// startPushStarter starts a starter whose streams read on the hub's rings and on
// safetyPoll; it returns once the hub listens.
func (st *stack) startPushStarter(safetyPoll time.Duration) *pushStarter {
	st.t.Helper()
	appName := "events-test-" + randomHex(4)
	u, _ := url.Parse(databaseURL(st.dbName))
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	hub := agentevents.Listen(u.String(), agentevents.Options{SafetyPoll: safetyPoll, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := st.server(st.starterClient)
	srv.Events = hub
	ts := httptest.NewServer(srv.Handler())
	var once sync.Once
	p := &pushStarter{url: ts.URL, appName: appName, stop: func() {
		once.Do(func() {
			ts.CloseClientConnections() // open streams end as in a crash
			ts.Close()
			hub.Close()
		})
	}}
	st.t.Cleanup(p.stop)
	select {
	case <-hub.Listening():
	case <-time.After(30 * time.Second):
		st.t.Fatal("the hub never listened")
	}
	return p
}

// writeAgentEvent commits an event for the agent as any writer would (the
// notification comes from the table's trigger) and returns its id.
func (st *stack) writeAgentEvent(q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, agentID string, seq int) string {
	st.t.Helper()
	var id int64
	err := q.QueryRowContext(context.Background(), `INSERT INTO agent_events (agent_id, name, conversation_id, dedup_key, data)
		VALUES ($1, 'test.ping', gen_random_uuid(), $2, jsonb_build_object('seq', $3::int)) RETURNING id`,
		agentID, "test:"+randomHex(8), seq).Scan(&id)
	if err != nil {
		st.t.Fatal(err)
	}
	return strconv.FormatInt(id, 10)
}

// listenerPID is the backend of the LISTEN connection named appName.
func (st *stack) listenerPID(appName string) int {
	st.t.Helper()
	var pid int
	st.eventually("a LISTEN connection named "+appName, 30*time.Second, func() bool {
		err := st.db.QueryRow(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`, appName).Scan(&pid)
		return err == nil
	})
	return pid
}

// wantPing waits for the stream's next event and checks it is the test event id.
func wantPing(t *testing.T, s *sse, id string, seq int) {
	t.Helper()
	ev := s.next(t, "test.ping", 60*time.Second)
	if ev.ID != id || ev.Data["seq"] != float64(seq) {
		t.Fatalf("got event %s %v, want %s with seq %d", ev.ID, ev.Data, id, seq)
	}
}

// A stream learns of a new event from Postgres' notification, not by polling:
// the starter's safety poll is an hour, far longer than the test waits.
func TestAgentEventsArriveByNotify(t *testing.T) {
	st, ch := newPageStack(t)
	p := st.startPushStarter(time.Hour)
	a := st.createAgent("nia", 2)
	st.setPresence(a, "available")
	events := st.openEventsAt(p.url, a, "")

	st.customerSays(ch, "2900000000000301", "Is anyone there?", "")
	assigned := events.next(t, "conversation.assigned", 60*time.Second)
	received := events.next(t, "message.received", 60*time.Second)
	if assigned.Data["conversation_id"] == nil || received.Data["conversation_id"] != assigned.Data["conversation_id"] {
		t.Fatalf("assigned %v, received %v", assigned.Data, received.Data)
	}
	// Events of another agent do not reach this stream.
	other := st.createAgent("oto", 1)
	st.writeAgentEvent(st.db, other.ID, 1)
	id := st.writeAgentEvent(st.db, a.ID, 2)
	wantPing(t, events, id, 2)
}

// Last-Event-ID replays what a client missed while its starter was down: the
// events are rows, not notifications.
func TestAgentEventsReplayAcrossStarterRestart(t *testing.T) {
	st := newStack(t)
	a := st.createAgent("rae", 1)

	first := st.startPushStarter(time.Hour)
	events := st.openEventsAt(first.url, a, "")
	id1 := st.writeAgentEvent(st.db, a.ID, 1)
	wantPing(t, events, id1, 1)
	events.cancel()
	first.stop()

	id2 := st.writeAgentEvent(st.db, a.ID, 2)
	id3 := st.writeAgentEvent(st.db, a.ID, 3)

	second := st.startPushStarter(time.Hour)
	events = st.openEventsAt(second.url, a, id1)
	wantPing(t, events, id2, 2)
	wantPing(t, events, id3, 3)
	id4 := st.writeAgentEvent(st.db, a.ID, 4) // and new events are pushed again
	wantPing(t, events, id4, 4)
}

// A lost LISTEN connection loses no event: the hub reconnects and every stream
// reads what was committed meanwhile, although the notification went to nobody.
func TestAgentEventsSurviveALostListenConnection(t *testing.T) {
	st := newStack(t)
	a, p, events := st.agentOnPushStarter("lia")
	ctx := context.Background()

	// 1. The event is committed while the listener cannot reconnect: the database
	// refuses new connections from before the listener is ended until after the
	// commit, so its notification certainly reaches no one.
	admin, err := sql.Open("postgres", databaseURL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := st.db.Conn(ctx) // held: the database refuses new connections for a while
	if err != nil {
		t.Fatal(err)
	}
	allow := func(on bool) {
		if _, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS %t`, st.dbName, on)); err != nil {
			t.Fatal(err)
		}
	}
	pid := st.listenerPID(p.appName)
	allow(false)
	t.Cleanup(func() { // in case the test stops before it allows them again
		_, _ = admin.Exec(fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS true`, st.dbName))
		admin.Close()
	})
	var ended bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("end the LISTEN connection: %v %v", ended, err)
	}
	var listeners int
	id1 := st.writeAgentEvent(conn, a.ID, 1)
	if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, p.appName).Scan(&listeners); err != nil || listeners != 0 {
		t.Fatalf("a listener was connected when the event committed: %d %v", listeners, err)
	}
	allow(true)
	conn.Close()
	wantPing(t, events, id1, 1)

	// 2. The listener is ended and the event written at once, racing the
	// reconnection (whichever wins, the event arrives).
	pid = st.listenerPID(p.appName)
	if err := st.db.QueryRow(`SELECT pg_terminate_backend($1, 10000)`, pid).Scan(&ended); err != nil || !ended {
		t.Fatalf("end the LISTEN connection: %v %v", ended, err)
	}
	id2 := st.writeAgentEvent(st.db, a.ID, 2)
	wantPing(t, events, id2, 2)

	// 3. And notifications flow again on the new connection.
	if again := st.listenerPID(p.appName); again == pid {
		t.Fatalf("the listener is still backend %d", pid)
	}
	id3 := st.writeAgentEvent(st.db, a.ID, 3)
	wantPing(t, events, id3, 3)
}

// Ids are taken at insert and committed in any order: an event whose transaction
// commits after a newer event was sent still reaches the stream (with the newer
// id as its id:, so that the client's Last-Event-ID does not go back).
func TestAgentEventsCommittedOutOfOrderAreNotLost(t *testing.T) {
	st := newStack(t)
	a, p, events := st.agentOnPushStarter("ola")

	tx, err := st.db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	older := st.writeAgentEvent(tx, a.ID, 1)
	newer := st.writeAgentEvent(st.db, a.ID, 2)
	wantPing(t, events, newer, 2)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	late := events.next(t, "test.ping", 60*time.Second)
	if late.Data["seq"] != float64(1) || late.ID != newer {
		t.Fatalf("late event %s %v, want seq 1 (row %s) with id %s", late.ID, late.Data, older, newer)
	}
	next := st.writeAgentEvent(st.db, a.ID, 3)
	wantPing(t, events, next, 3)

	// A reconnect from the highest id replays nothing already seen.
	again := st.openEventsAt(p.url, a, newer)
	wantPing(t, again, next, 3)
}
