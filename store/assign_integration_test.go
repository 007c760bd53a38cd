//go:build integration

package store

// The locking of assign.go against a real Postgres: goroutines race to assign,
// pick and transfer the same conversation, or to load the same agent, and
// exactly one wins while no agent ever holds more than its capacity.
// Run: go test -count=1 -tags integration ./store/

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"fbchannel/schema/schematest"
	"fbchannel/secrets"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is a store on a database of its own, dropped when the test ends.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	s     *Store
	pages int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, schematest.Migrated(t, "fbchannel_store_test_"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, s: &Store{DB: db, Box: box}}
}

func (f *fixture) must(err error) {
	f.t.Helper()
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	_, err := f.s.DB.ExecContext(f.ctx, query, args...)
	f.must(err)
}

// page connects a page (with its default queue and workstream) to a new account.
func (f *fixture) page() Page {
	f.t.Helper()
	a, err := f.s.CreateAccount(f.ctx, "Account", "app-"+randomHex(4), "secret")
	f.must(err)
	f.pages++
	p, err := f.s.CreatePage(f.ctx, a.ID, "Page", fmt.Sprint(1000+f.pages), "token", "http://localhost")
	f.must(err)
	return p
}

// agent creates an available agent; it joins every default queue there is.
func (f *fixture) agent(capacity int) string {
	f.t.Helper()
	a, _, err := f.s.CreateAgent(f.ctx, "Agent", randomHex(4)+"@example.com", capacity)
	f.must(err)
	_, err = f.s.SetPresence(f.ctx, a.ID, "available")
	f.must(err)
	return a.ID
}

// waiting opens a conversation on the page and routes it to the page's default queue.
func (f *fixture) waiting(p Page) string {
	f.t.Helper()
	id := uuid.NewString()
	o, err := f.s.OpenConversation(f.ctx, id, p.ID, p.PageID, "psid-"+randomHex(6))
	f.must(err)
	if !o.Served {
		f.t.Fatalf("page %s does not serve conversations", p.ID)
	}
	_, _, err = f.s.RouteConversation(f.ctx, id)
	f.must(err)
	return id
}

func (f *fixture) pickMode(p Page) {
	f.exec("UPDATE workstreams SET distribution_mode = 'pick' WHERE id = $1", p.WorkstreamID)
}

// pickPage is a new page whose workstream is in pick mode.
func (f *fixture) pickPage() Page {
	p := f.page()
	f.pickMode(p)
	return p
}

// agents are n new agents of this capacity.
func (f *fixture) agents(n, capacity int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = f.agent(capacity)
	}
	return ids
}

// number is what a query of one number answers.
func (f *fixture) number(query string, args ...any) int {
	f.t.Helper()
	var n int
	f.must(f.s.DB.QueryRowContext(f.ctx, query, args...).Scan(&n))
	return n
}

// load is the capacity units of the agent's assigned conversations.
func (f *fixture) load(agentID string) int {
	f.t.Helper()
	return f.number("SELECT coalesce(sum(units), 0) FROM conversations WHERE agent_id = $1 AND status = 'assigned'", agentID)
}

// assignedEvents counts the conversation.assigned events written for a conversation.
func (f *fixture) assignedEvents(conversationID string) int {
	f.t.Helper()
	return f.number("SELECT count(*) FROM agent_events WHERE conversation_id = $1 AND name = 'conversation.assigned'", conversationID)
}

func (f *fixture) conversationAgent(id string) (status, agentID string) {
	f.t.Helper()
	var agent sql.NullString
	f.must(f.s.DB.QueryRowContext(f.ctx, "SELECT status, agent_id FROM conversations WHERE id = $1", id).Scan(&status, &agent))
	return status, agent.String
}

// race runs fn n times at once, released together, and returns each outcome.
func race[T any](n int, fn func(i int) (T, error)) ([]T, []error) {
	out, errs := make([]T, n), make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i], errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out, errs
}

func refusedWith(err error, code string) bool {
	var r *Refused
	return errors.As(err, &r) && r.Code == code
}

func TestRacingPicksOfOneConversationHaveOneWinner(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	const agents = 8
	ids := f.agents(agents, 5)
	conv := f.waiting(p)

	_, errs := race(agents, func(i int) (Picked, error) { return f.s.Pick(f.ctx, conv, ids[i]) })
	f.requireOneWinner("pick", conv, ids, errs, "already_assigned", func(err error) bool {
		return errors.Is(err, ErrNotWaiting) && refusedWith(err, "already_assigned")
	})
	if n := f.assignedEvents(conv); n != 1 {
		t.Fatalf("%d conversation.assigned events, want 1", n)
	}
}

// requireOneWinner checks a race of calls that each try to give conv to
// agents[i]: one succeeded, every other lost (lostAs says how), and conv is
// the winner's. It answers the winner.
func (f *fixture) requireOneWinner(call, conv string, agents []string, errs []error, lostAs string, lost func(error) bool) string {
	t := f.t
	t.Helper()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil:
			if winner != "" {
				t.Fatalf("two %ss of %s won: to %s and %s", call, conv, winner, agents[i])
			}
			winner = agents[i]
		case lost(err):
		default:
			t.Fatalf("%s %d: %v, want success or %s", call, i, err, lostAs)
		}
	}
	if winner == "" {
		t.Fatalf("no %s succeeded", call)
	}
	if status, agent := f.conversationAgent(conv); status != "assigned" || agent != winner {
		t.Fatalf("conversation is %s with %q, want assigned to the winner %s", status, agent, winner)
	}
	return winner
}

func TestRacingPicksByOneAgentStayWithinItsCapacity(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	agent := f.agent(2)
	const conversations = 8
	convs := make([]string, conversations)
	for i := range convs {
		convs[i] = f.waiting(p)
	}

	_, errs := race(conversations, func(i int) (Picked, error) { return f.s.Pick(f.ctx, convs[i], agent) })
	f.requireTwoWon("pick", "capacity_exceeded", agent, errs, func(int, bool) {})
}

// requireTwoWon checks a race of calls that each give agent (capacity 2) one
// more conversation: each call succeeded or was refused with refusal, two
// succeeded, and the agent's load is 2. check looks at call i's outcome.
func (f *fixture) requireTwoWon(call, refusal, agent string, errs []error, check func(i int, won bool)) {
	t := f.t
	t.Helper()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
			check(i, true)
		case refusedWith(err, refusal):
			check(i, false)
		default:
			t.Fatalf("%s %d: %v, want success or %s", call, i, err, refusal)
		}
	}
	if won != 2 || f.load(agent) != 2 {
		t.Fatalf("%d of the %ss won and the agent's load is %d, want 2 and 2 (its capacity)", won, call, f.load(agent))
	}
}

func TestRacingQueuePassesAssignEachConversationOnceWithinCapacity(t *testing.T) {
	f := newFixture(t)
	// Two queues (two pages' default queues) share every agent, so passes over
	// both load the same agents at once.
	p1, p2 := f.page(), f.page()
	agents := []string{f.agent(3), f.agent(2), f.agent(1)}
	capacity := map[string]int{agents[0]: 3, agents[1]: 2, agents[2]: 1}
	var convs []string
	for range 10 {
		convs = append(convs, f.waiting(p1), f.waiting(p2))
	}

	seen := f.racePassesFillingAgents(p1, p2, capacity)
	for _, c := range convs {
		status, agent := f.conversationAgent(c)
		want := 0
		if seen[c] != "" {
			want = 1
			if status != "assigned" || agent != seen[c] {
				t.Fatalf("conversation %s is %s with %q, want assigned to %s", c, status, agent, seen[c])
			}
		} else if status != "waiting" {
			t.Fatalf("unassigned conversation %s is %s, want waiting", c, status)
		}
		if n := f.assignedEvents(c); n != want {
			t.Fatalf("conversation %s has %d conversation.assigned events, want %d", c, n, want)
		}
	}
}

// racePassesFillingAgents races six passes over the two pages' queues, requires
// that none assigned a conversation another assigned too and that together they
// filled every agent to its capacity, and answers who got each conversation.
func (f *fixture) racePassesFillingAgents(p1, p2 Page, capacity map[string]int) map[string]string {
	t := f.t
	t.Helper()
	passes, errs := race(6, func(i int) (QueuePass, error) {
		q := p1.DefaultQueueID
		if i%2 == 1 {
			q = p2.DefaultQueueID
		}
		return f.s.AssignQueue(f.ctx, q, 100, "")
	})
	seen := map[string]string{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("pass %d: %v", i, err)
		}
		for _, a := range passes[i].Assigned {
			if other, ok := seen[a.ConversationID]; ok {
				t.Fatalf("conversation %s assigned twice: to %s and %s", a.ConversationID, other, a.AgentID)
			}
			seen[a.ConversationID] = a.AgentID
		}
	}
	total := 0
	for id, c := range capacity {
		total += c
		if got := f.load(id); got != c {
			t.Fatalf("agent load %d, want its capacity %d", got, c)
		}
	}
	if len(seen) != total {
		t.Fatalf("%d conversations assigned, want %d (the agents' whole capacity)", len(seen), total)
	}
	return seen
}

func TestPicksRacingQueuePassesAssignEachConversationOnce(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	pusher := f.agent(10)
	_, err := f.s.SetPresence(f.ctx, pusher, "busy") // only picks until the race starts
	f.must(err)
	picker := f.agent(10)
	_, err = f.s.SetPresence(f.ctx, picker, "busy") // a member picks whatever its presence
	f.must(err)
	var convs []string
	for range 6 {
		convs = append(convs, f.waiting(p))
	}
	_, err = f.s.SetPresence(f.ctx, pusher, "available")
	f.must(err)

	// Each conversation: the queue pass and a pick race for it.
	_, errs := race(len(convs)+1, func(i int) (any, error) {
		if i == len(convs) {
			return f.s.AssignQueue(f.ctx, p.DefaultQueueID, 100, "")
		}
		return f.s.Pick(f.ctx, convs[i], picker)
	})
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrNotWaiting) {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	for _, c := range convs {
		status, agent := f.conversationAgent(c)
		if status != "assigned" || (agent != pusher && agent != picker) {
			t.Fatalf("conversation %s is %s with %q, want assigned to one of the two agents", c, status, agent)
		}
		if n := f.assignedEvents(c); n != 1 {
			t.Fatalf("conversation %s has %d conversation.assigned events, want 1", c, n)
		}
	}
	if f.load(pusher)+f.load(picker) != len(convs) {
		t.Fatalf("loads %d + %d, want %d", f.load(pusher), f.load(picker), len(convs))
	}
}

func TestRacingTransfersToOneAgentStayWithinItsCapacity(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	const senders = 6
	from := make([]string, senders)
	convs := make([]string, senders)
	for i := range from {
		from[i] = f.agent(1)
		convs[i] = f.waiting(p)
		_, err := f.s.Pick(f.ctx, convs[i], from[i])
		f.must(err)
	}
	target := f.agent(2)

	_, errs := race(senders, func(i int) (Transferred, error) {
		return f.s.Transfer(f.ctx, TransferRequest{ConversationID: convs[i], FromAgentID: from[i], ToAgentID: target})
	})
	f.requireTwoWon("transfer", "agent_at_capacity", target, errs, func(i int, won bool) {
		status, agent := f.conversationAgent(convs[i])
		switch {
		case won && (status != "assigned" || agent != target):
			t.Fatalf("transferred conversation is %s with %q, want assigned to the target", status, agent)
		case won && f.load(from[i]) != 0:
			t.Fatalf("sender %d still holds %d units after its transfer", i, f.load(from[i]))
		case !won && (status != "assigned" || agent != from[i]):
			t.Fatalf("refused transfer left the conversation %s with %q, want it still the sender's", status, agent)
		}
	})
}

func TestRacingTransfersOfOneConversationHaveOneWinner(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	owner := f.agent(1)
	conv := f.waiting(p)
	_, err := f.s.Pick(f.ctx, conv, owner)
	f.must(err)
	const targets = 6
	to := f.agents(targets, 1)

	_, errs := race(targets, func(i int) (Transferred, error) {
		return f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, FromAgentID: owner, ToAgentID: to[i]})
	})
	// A transfer that lost finds the conversation no longer the owner's.
	winner := f.requireOneWinner("transfer", conv, to, errs, "not found", func(err error) bool { return errors.Is(err, ErrNotFound) })
	for _, id := range append(to, owner) {
		want := 0
		if id == winner {
			want = 1
		}
		if got := f.load(id); got != want {
			t.Fatalf("agent %s has load %d, want %d", id, got, want)
		}
	}
}

// Every change of a conversation's agent or state raises its state_seq, which the
// workflow's signals carry: a pick, a transfer, a hold and the return from it
// number in order, and a hold that changes nothing numbers nothing.
func TestStateSeqRisesWithEachChange(t *testing.T) {
	f := newFixture(t)
	p := f.pickPage()
	owner, next := f.agent(1), f.agent(1)
	conv := f.waiting(p)
	picked, err := f.s.Pick(f.ctx, conv, owner)
	f.must(err)
	moved, err := f.s.Transfer(f.ctx, TransferRequest{ConversationID: conv, FromAgentID: owner, ToAgentID: next})
	f.must(err)
	_, held, err := f.s.Hold(f.ctx, conv, next)
	f.must(err)
	_, again, err := f.s.Hold(f.ctx, conv, next)
	f.must(err)
	if picked.Seq < 1 || moved.Assignment.Seq <= picked.Seq || held <= moved.Assignment.Seq || again != 0 {
		t.Fatalf("state_seq: pick %d, transfer %d, hold %d, hold again %d; want rising, then 0", picked.Seq, moved.Assignment.Seq, held, again)
	}
	back, err := f.s.ReturnHeld(f.ctx, conv)
	f.must(err)
	if back.Status != "assigned" || back.Seq <= held {
		t.Fatalf("hold return: %s with state_seq %d, want assigned above %d", back.Status, back.Seq, held)
	}
}

// A retried pass (the same key) whose earlier attempt assigned but lost its
// answer answers those assignments again, as they stand, and assigns nothing
// twice; another pass's key does not.
func TestARetriedQueuePassAnswersWhatItAssigned(t *testing.T) {
	f := newFixture(t)
	p := f.page()
	f.agents(2, 1)
	convs := []string{f.waiting(p), f.waiting(p), f.waiting(p)}

	lost, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10, "run-1:1")
	f.must(err)
	if len(lost.Assigned) != 2 {
		t.Fatalf("%d assigned, want 2 (the agents' capacity)", len(lost.Assigned))
	}
	retry, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10, "run-1:1")
	f.must(err)
	if len(retry.Assigned) != 2 {
		t.Fatalf("the retry answered %d assignments, want the first attempt's 2", len(retry.Assigned))
	}
	for i, a := range retry.Assigned {
		was := lost.Assigned[i]
		if a.ConversationID != was.ConversationID || a.AgentID != was.AgentID || a.Seq != was.Seq || a.PSID != was.PSID || !a.AssignedAt.Equal(was.AssignedAt) {
			t.Fatalf("the retry answered %+v, the first attempt %+v", a, was)
		}
	}
	for _, c := range convs {
		if n := f.assignedEvents(c); n > 1 {
			t.Fatalf("conversation %s announced %d times", c, n)
		}
	}
	if status, _ := f.conversationAgent(convs[2]); status != "waiting" {
		t.Fatalf("third conversation %s, want waiting", status)
	}
	next, err := f.s.AssignQueue(f.ctx, p.DefaultQueueID, 10, "run-1:2")
	f.must(err)
	if len(next.Assigned) != 0 {
		t.Fatalf("the next pass answered %+v, want nothing (the agents are full)", next.Assigned)
	}
}
