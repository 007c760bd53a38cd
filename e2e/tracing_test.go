//go:build integration

package e2e

// Tracing and payload encryption (issue 7, items 3 and 4): a stack whose starter
// and worker are wired as starter/main.go and worker/main.go wire theirs when
// OTEL_EXPORTER_OTLP_ENDPOINT or PAYLOAD_ENCRYPTION_KEY is set.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"fbchannel/app"
	"fbchannel/codec"
	"fbchannel/simulator"
	"fbchannel/tracing"
	"fbchannel/tracing/tracingtest"
	"fbchannel/workflows/contract"
)

// stackOptions turn on what the mains turn on from their environment.
type stackOptions struct {
	otlpEndpoint string       // OTEL_EXPORTER_OTLP_ENDPOINT of both processes
	codec        *codec.Codec // PAYLOAD_ENCRYPTION_KEY of both processes
}

// opsStack is a stack (harness_test.go) plus the tracing its options started.
type opsStack struct {
	*stack
	starterTracing, workerTracing *tracing.Tracing
}

// newStackWith builds an isolated stack with newStack, but with the starter's
// and the worker's own Temporal clients (on the dev server's connection)
// carrying the tracing interceptor and the payload codec (app.ClientOptions),
// the starter's handler wrapped in server spans and the codec endpoint, and the
// Graph client making spans.
func newStackWith(t *testing.T, opts stackOptions) *opsStack {
	t.Helper()
	s := &opsStack{}
	s.stack = newStack(t, func(st *stack) {
		ctx := context.Background()
		var err error
		s.starterTracing, err = tracing.Start(ctx, tracing.Config{ServiceName: tracing.StarterService, Endpoint: opts.otlpEndpoint})
		if err != nil {
			t.Fatal(err)
		}
		s.workerTracing, err = tracing.Start(ctx, tracing.Config{ServiceName: tracing.WorkerService, Endpoint: opts.otlpEndpoint})
		if err != nil {
			t.Fatal(err)
		}
		processClient := func(tr *tracing.Tracing) client.Client {
			o, err := app.ClientOptions(client.Options{Namespace: namespace, Logger: quietLogger()}, tr, opts.codec)
			if err != nil {
				t.Fatal(err)
			}
			c, err := client.NewClientFromExisting(temporalClient, o)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		st.starterClient, st.workerClient = processClient(s.starterTracing), processClient(s.workerTracing)
		st.graphTracer = s.workerTracing.TracerProvider()
		// The starter's codec endpoint and server spans, as app.RunStarter wires them.
		st.app.Starter.Codec, st.app.Starter.CodecCORSOrigins = opts.codec, []string{"http://localhost:8233"}
		st.app.Starter.Tracing = s.starterTracing
		// Runs after the stack's own clean-up has stopped the starter and the worker.
		t.Cleanup(func() {
			st.starterClient.Close()
			st.workerClient.Close()
			shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = s.starterTracing.Shutdown(shutdownCtx)
			_ = s.workerTracing.Shutdown(shutdownCtx)
		})
	})
	return s
}

// One customer message is one trace, received by an OTLP/HTTP collector: the
// webhook request and its SignalWithStart in the starter, the conversation
// workflow, its activities and the Graph API call of one of them in the worker.
func TestTraceOfAnInboundMessageSpansStarterWorkflowActivityAndGraphCall(t *testing.T) {
	rcv := tracingtest.NewReceiver()
	t.Cleanup(rcv.Close) // after the stack's cleanup, which exports the last spans
	st := newStackWith(t, stackOptions{otlpEndpoint: rcv.URL()})
	if !st.starterTracing.Enabled() || !st.workerTracing.Enabled() {
		t.Fatal("tracing is off")
	}
	ch := st.connectPage()
	a, events := st.availableAgent("tracy", 2)
	psid := "2900000000000070"
	st.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: "Theodora", LastName: "Tracewell", Locale: "en_GB"})
	const text = "my password is hunter2, please help"
	convID := st.customerAssigned(events, ch, psid, text)
	// Closing ends the run (by continuing as new), which ends its RunWorkflow span.
	st.agentCloses(a, convID)
	events.next(t, "conversation.closed", 10*time.Second)

	type link struct{ service, name, parent string }
	want := []link{
		{tracing.StarterService, "POST /webhooks/facebook/{page}", ""},
		{tracing.StarterService, "SignalWithStartWorkflow:ConversationWorkflow", "POST /webhooks/facebook/{page}"},
		{tracing.WorkerService, "RunWorkflow:ConversationWorkflow", "SignalWithStartWorkflow:ConversationWorkflow"},
		{tracing.WorkerService, "StartActivity:OpenConversation", "RunWorkflow:ConversationWorkflow"},
		{tracing.WorkerService, "RunActivity:OpenConversation", "StartActivity:OpenConversation"},
		{tracing.WorkerService, "StartActivity:FetchCustomerProfile", "RunWorkflow:ConversationWorkflow"},
		{tracing.WorkerService, "RunActivity:FetchCustomerProfile", "StartActivity:FetchCustomerProfile"},
		{tracing.WorkerService, "GET /{id}", "RunActivity:FetchCustomerProfile"},
	}
	// missing says which link of the chain is not (yet) in the trace.
	var spans, inTrace []tracingtest.Span
	missing := func() string {
		spans = rcv.Spans()
		root, ok := tracingtest.Find(spans, tracing.StarterService, "POST /webhooks/facebook/{page}")
		if !ok {
			return "the webhook's server span"
		}
		inTrace = tracingtest.Trace(spans, root.TraceID)
		for _, l := range want {
			found := false
			for _, s := range inTrace {
				if s.Name != l.name || s.Service != l.service {
					continue
				}
				if l.parent == "" {
					found = found || s.ParentID == ""
					continue
				}
				for _, p := range inTrace {
					found = found || (p.SpanID == s.ParentID && p.Name == l.parent)
				}
			}
			if !found {
				return l.service + " " + l.name + " (child of " + l.parent + ")"
			}
		}
		return ""
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_ = st.starterTracing.ForceFlush(context.Background())
		_ = st.workerTracing.ForceFlush(context.Background())
		m := missing()
		if m == "" {
			break
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range inTrace {
				names = append(names, s.Service+" "+s.Name)
			}
			t.Fatalf("the trace lacks %s; it has %d spans: %s", m, len(inTrace), strings.Join(names, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}

	for _, s := range inTrace {
		switch s.Name {
		case "GET /{id}":
			if s.Attrs["http.request.method"] != "GET" || s.Attrs["url.template"] != "/{id}" || s.Kind != "SPAN_KIND_CLIENT" {
				t.Errorf("Graph span: %+v", s)
			}
		case "RunWorkflow:ConversationWorkflow":
			// Continuing as new is how a closed conversation's run ends: not a failure.
			if s.Status == "STATUS_CODE_ERROR" {
				t.Errorf("the run's span is marked failed: %+v", s)
			}
		}
	}
	// Nothing secret or personal in any span of the stack: not the tokens, not
	// the app secret, not what the customer wrote, not their name.
	all, _ := json.Marshal(spans)
	for _, secret := range []string{ch.PageToken, ch.AppSecret, st.adminToken, a.Token, ch.VerifyToken, "hunter2", "Tracewell", "access_token", "appsecret_proof"} {
		if bytes.Contains(all, []byte(secret)) {
			t.Errorf("a span contains %q", secret)
		}
	}
}

// With PAYLOAD_ENCRYPTION_KEY set, every payload in every history of a full
// conversation is encrypted (read with a client that has no codec), the
// starter's codec endpoint decodes them, and clients with the codec work.
func TestCodecEncryptsHistoriesAndTheCodecEndpointDecodesThem(t *testing.T) {
	key := make([]byte, codec.KeySize)
	_, _ = rand.Read(key)
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	st := newStackWith(t, stackOptions{codec: c})
	ch := st.connectPage()
	a, events := st.availableAgent("cody", 2)
	psid := "2900000000000071"
	st.sim.RegisterProfile(psid, simulator.ProfileData{FirstName: "Zenobia", LastName: "Quillfeather"})
	convID := st.customerAssigned(events, ch, psid, "my card number is 4111 1111")
	st.agentSends(a, convID, "please never share card numbers")
	st.agentCloses(a, convID)
	events.next(t, "conversation.closed", 10*time.Second)
	var conv map[string]any
	st.call("GET", "/api/v1/conversations/"+convID, a.Token, nil, &conv)
	customer, _ := conv["customer"].(map[string]any)
	if name, _ := customer["name"].(string); !strings.Contains(name, "Quillfeather") {
		t.Fatalf("the profile was not fetched: %v", conv["customer"])
	}

	// Every history, read raw.
	ctx := context.Background()
	resp, err := temporalClient.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: namespace, Query: "TaskQueue = '" + st.taskQueue + "'", PageSize: 1000,
	})
	if err != nil {
		t.Fatal(err)
	}
	var encrypted []*commonpb.Payload
	kinds := map[string]bool{}
	for _, ex := range resp.Executions {
		kinds[ex.Type.Name] = true
		it := temporalClient.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, 0)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			wire, _ := proto.Marshal(ev)
			raw := protojson.Format(ev) + string(wire)
			for _, plain := range []string{"4111 1111", "never share card numbers", "Zenobia", "Quillfeather", ch.PageToken, ch.AppSecret, a.Token, `"PageUUID"`, `"ConversationID"`} {
				if strings.Contains(raw, plain) {
					t.Fatalf("history of %s, event %d (%s), contains %q", ex.Execution.WorkflowId, ev.EventId, ev.EventType, plain)
				}
			}
			for _, p := range payloadsOf(ev) {
				if p.skip {
					continue
				}
				enc, id := string(p.Metadata[codec.MetadataEncoding]), string(p.Metadata[codec.MetadataKeyID])
				if enc != codec.EncodingEncrypted || id != c.CurrentKeyID() || json.Valid(p.Data) {
					t.Fatalf("history of %s, event %d (%s), %s: a payload is not encrypted: encoding %q key %q",
						ex.Execution.WorkflowId, ev.EventId, ev.EventType, p.path, enc, id)
				}
				encrypted = append(encrypted, p.Payload)
			}
		}
	}
	for _, k := range []string{"ConversationWorkflow", "QueueWorkflow", "PageWorkflow"} {
		if !kinds[k] {
			t.Fatalf("no %s on the task queue: %v", k, kinds)
		}
	}
	if len(encrypted) < 10 {
		t.Fatalf("only %d payloads found: the scan does not see them", len(encrypted))
	}

	// The starter's codec endpoint decodes them, for the admin token only, as the
	// Temporal UI asks for them (POST {endpoint}/decode, X-Namespace, from its origin).
	body, _ := json.Marshal(&commonpb.Payloads{Payloads: encrypted})
	decode := func(token string) (int, []byte) {
		req, _ := http.NewRequest("POST", st.api.URL+"/codec/decode", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", namespace)
		req.Header.Set("Origin", "http://localhost:8233")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, raw
	}
	if code, _ := decode(""); code != 401 {
		t.Fatalf("decode without the admin token: %d", code)
	}
	if code, _ := decode(a.Token); code != 401 {
		t.Fatalf("decode with an agent's token: %d", code)
	}
	code, raw := decode(st.adminToken)
	if code != 200 {
		t.Fatalf("decode: %d %s", code, raw)
	}
	var decoded commonpb.Payloads
	if err := json.Unmarshal(raw, &decoded); err != nil || len(decoded.Payloads) != len(encrypted) {
		t.Fatalf("decoded %d of %d payloads: %v", len(decoded.Payloads), len(encrypted), err)
	}
	var sawPageID, sawConversation bool
	for _, p := range decoded.Payloads {
		if enc := string(p.Metadata[codec.MetadataEncoding]); enc != "json/plain" && enc != "binary/null" {
			t.Fatalf("a decoded payload has encoding %q", enc)
		}
		if string(p.Metadata[codec.MetadataEncoding]) == "json/plain" && !json.Valid(p.Data) {
			t.Fatalf("a decoded payload is not JSON: %q", p.Data)
		}
		sawPageID = sawPageID || bytes.Contains(p.Data, []byte(ch.PageID))
		sawConversation = sawConversation || bytes.Contains(p.Data, []byte(convID))
	}
	if !sawPageID || !sawConversation {
		t.Fatalf("the decoded payloads do not hold the page id (%v) and conversation id (%v)", sawPageID, sawConversation)
	}

	// A client with the codec reads the page workflow's state; one without cannot.
	var state contract.PageStatus
	pageWF := contract.PageWorkflowID(ch.PageUUID)
	v, err := st.starterClient.QueryWorkflow(ctx, pageWF, "", contract.QueryState)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&state); err != nil || state.ProvisioningStatus != "active" || state.PageUUID != ch.PageUUID {
		t.Fatalf("query with the codec: %+v %v", state, err)
	}
	v, err = temporalClient.QueryWorkflow(ctx, pageWF, "", contract.QueryState)
	if err == nil {
		if err := v.Get(&state); err == nil {
			t.Fatal("a client without the codec read an encrypted query answer")
		}
	}
}

type foundPayload struct {
	*commonpb.Payload
	path string
	// skip: search attributes (Temporal indexes them, so they stay readable;
	// ours are ids) and headers (no codec applies to them).
	skip bool
}

// payloadsOf finds every Payload in a history event, wherever it is nested.
func payloadsOf(m proto.Message) []foundPayload {
	var out []foundPayload
	var walk func(m protoreflect.Message, path string, skip bool)
	walk = func(m protoreflect.Message, path string, skip bool) {
		if p, ok := m.Interface().(*commonpb.Payload); ok {
			out = append(out, foundPayload{Payload: p, path: path, skip: skip})
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			name := string(fd.Name())
			sub := path + "." + name
			skipSub := skip || name == "search_attributes" || name == "header"
			switch {
			case fd.IsMap():
				if fd.MapValue().Message() != nil {
					v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
						walk(mv.Message(), sub+"["+k.String()+"]", skipSub)
						return true
					})
				}
			case fd.IsList():
				if fd.Message() != nil {
					for i := 0; i < v.List().Len(); i++ {
						walk(v.List().Get(i).Message(), sub, skipSub)
					}
				}
			case fd.Message() != nil:
				walk(v.Message(), sub, skipSub)
			}
			return true
		})
	}
	walk(m.ProtoReflect(), "", false)
	return out
}
