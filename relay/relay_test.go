//go:build integration

package relay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"fbchannel/schema/schematest"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// recordingTemporal stands for Temporal: it records each SignalWithStart and
// fails every call while down is set. It also notices two signals of one
// conversation in flight at once, which the per-conversation lock must prevent.
type recordingTemporal struct {
	client.Client // unused methods panic
	mu            sync.Mutex
	down          bool
	inFlight      map[string]bool
	overlap       []string
	got           map[string][]string // workflow id → event keys, in signal order
	batches       int                 // signals
	refuse        string              // a workflow id whose signals Temporal turns down
}

func (f *recordingTemporal) SignalWithStartWorkflow(ctx context.Context, workflowID, signalName string, signalArg any,
	options client.StartWorkflowOptions, workflow any, workflowArgs ...any) (client.WorkflowRun, error) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		return nil, serviceerror.NewUnavailable("temporal is down")
	}
	if workflowID == f.refuse {
		f.mu.Unlock()
		return nil, serviceerror.NewInvalidArgument("refused")
	}
	if f.inFlight[workflowID] {
		f.overlap = append(f.overlap, workflowID)
	}
	f.inFlight[workflowID] = true
	f.mu.Unlock()
	time.Sleep(time.Millisecond) // a round trip, so that overlaps could show
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inFlight[workflowID] = false
	batch, ok := signalArg.([]contract.InboundEvent)
	if signalName != contract.SignalInboundBatch || options.TaskQueue != "q" || !ok || len(batch) == 0 || len(batch) > store.RelaySignalEvents {
		return nil, fmt.Errorf("unexpected signal %s %+v %+v", signalName, options, signalArg)
	}
	for _, ev := range batch {
		if ev.PageUUID == "" || contract.ConversationWorkflowID(ev.PageID, ev.PSID) != workflowID {
			return nil, fmt.Errorf("unexpected event %+v in the signal to %s", ev, workflowID)
		}
		f.got[workflowID] = append(f.got[workflowID], ev.EventKey)
	}
	f.batches++
	return nil, nil
}

func (f *recordingTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("temporal is down")
	}
	return &client.CheckHealthResponse{}, nil
}

func (f *recordingTemporal) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func testStore(t *testing.T) *store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), schematest.Migrated(t, "fbchannel_relay_"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &store.Store{DB: db}
}

// Three relays share one inbox while deliveries keep coming and Temporal goes
// down and comes back: each event is signalled once, each conversation's in
// commit order, never two of one conversation at once. A conversation whose
// signals Temporal refuses keeps its events pending and holds up no other.
func TestRelaysHandOnEveryEventOnceInOrder(t *testing.T) {
	st := testStore(t)
	poisoned := contract.ConversationWorkflowID("page", "psid-poisoned")
	temporal := &recordingTemporal{inFlight: map[string]bool{}, got: map[string][]string{}, refuse: poisoned}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var relays []*Relay
	for range 3 {
		r := New(Options{Store: st, Temporal: temporal, TaskQueue: "q", Poll: 50 * time.Millisecond, Parallel: 4})
		relays = append(relays, r)
		wg.Add(1)
		go func() { defer wg.Done(); _ = r.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	const customers, perCustomer = 20, 30
	pageUUID := "00000000-0000-0000-0000-000000000001"
	// The refused conversation's events are the oldest in the inbox.
	if _, err := st.SaveInbox(ctx, store.Unfenced, []store.InboundEvent{{PageID: "page", PageUUID: pageUUID, EventKey: "m_poison", PSID: "psid-poisoned",
		Kind: "message", Payload: []byte(`{}`)}}, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{}
	for i := range perCustomer {
		switch i {
		case 10:
			temporal.setDown(true)
		case 20:
			temporal.setDown(false)
		}
		var batch []store.InboundEvent
		for c := range customers {
			psid := fmt.Sprint("psid-", c)
			key := fmt.Sprintf("m_%d_%d", c, i)
			batch = append(batch, store.InboundEvent{PageID: "page", PageUUID: pageUUID, EventKey: key, PSID: psid, Kind: "message",
				Payload: []byte(fmt.Sprintf(`{"timestamp":%d}`, i))})
			id := contract.ConversationWorkflowID("page", psid)
			want[id] = append(want[id], key)
		}
		if _, err := st.SaveInbox(ctx, store.Unfenced, batch, nil); err != nil {
			t.Fatal(err)
		}
		relays[i%3].Kick()
	}

	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _, err := st.InboxBacklog(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break // the refused one
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d events still pending", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	temporal.mu.Lock()
	defer temporal.mu.Unlock()
	if len(temporal.overlap) > 0 {
		t.Errorf("signals of one conversation overlapped: %v", temporal.overlap)
	}
	if len(temporal.got[poisoned]) != 0 {
		t.Errorf("the refused conversation got %v", temporal.got[poisoned])
	}
	for id, keys := range want {
		if fmt.Sprint(temporal.got[id]) != fmt.Sprint(keys) {
			t.Errorf("%s got %v, want %v", id, temporal.got[id], keys)
		}
	}
	// What piled up while Temporal was down went on in batches.
	if temporal.batches >= customers*perCustomer {
		t.Errorf("%d signals for %d events: nothing was batched", temporal.batches, customers*perCustomer)
	}
}
