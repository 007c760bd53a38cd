//go:build integration

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// assertHistoriesFree reads the full history of every workflow run of this stack's
// task queue and fails if any of the given strings (secrets, message text) occurs.
// mustContain proves the scan sees inside payloads: it must be found somewhere.
func (st *stack) assertHistoriesFree(mustContain string, forbidden ...string) {
	st.t.Helper()
	ctx := context.Background()
	resp, err := temporalClient.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: namespace, Query: "TaskQueue = '" + st.taskQueue + "'", PageSize: 1000,
	})
	if err != nil {
		st.t.Fatal(err)
	}
	if len(resp.Executions) < 3 {
		st.t.Fatalf("only %d workflow runs found for the task queue", len(resp.Executions))
	}
	for _, ex := range resp.Executions {
		it := temporalClient.GetWorkflowHistory(ctx, ex.Execution.WorkflowId, ex.Execution.RunId, false, 0)
		var events int
		found := false
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				st.t.Fatal(err)
			}
			events++
			// Payload data is raw bytes in the wire form and base64 in protojson: check both.
			wire, err := proto.Marshal(ev)
			if err != nil {
				st.t.Fatal(err)
			}
			raw := protojson.Format(ev) + string(wire)
			found = found || strings.Contains(raw, mustContain)
			for _, f := range forbidden {
				if strings.Contains(raw, f) {
					st.t.Fatalf("history of %s (run %s) contains %q", ex.Execution.WorkflowId, ex.Execution.RunId, f)
				}
			}
		}
		if events == 0 {
			st.t.Fatalf("empty history for %s", ex.Execution.WorkflowId)
		}
		if strings.HasPrefix(ex.Execution.WorkflowId, "conversation:") && !found {
			st.t.Fatalf("the scan did not find %q in %s: it does not see payloads", mustContain, ex.Execution.WorkflowId)
		}
	}
}

func TestWorkflowHistoriesHoldNoSecretsOrMessageText(t *testing.T) {
	st := newStack(t)
	ch, a, events, convID := st.conversationOnNewPage("erin", 2, "2900000000000020", "my card number is 4111 1111")
	st.agentSends(a, convID, "please never share card numbers")
	st.agentCloses(a, convID)
	events.next(t, "conversation.closed", 10*time.Second)
	st.assertHistoriesFree("2900000000000020", ch.AppSecret, ch.PageToken, a.Token, st.adminToken, "4111 1111", "never share card numbers")
}
