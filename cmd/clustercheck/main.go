// Command clustercheck proves that a Temporal server takes work: against TEMPORAL_ADDRESS
// and TEMPORAL_NAMESPACE it runs one workflow through every kind of task the channel's
// workflows use — SignalWithStart, an activity, a durable timer, an update answered by the
// workflow, a signal — on a task queue of its own, and prints how long each step took
// and which of the channel's search attributes the namespace has. `make cluster-check`
// runs it against the server of `make cluster`; it exits non-zero on the first failure.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const (
	checkWorkflowName = "ClusterCheck"
	echoActivityName  = "ClusterCheckEcho"
	greetUpdate       = "greet"
	finishSignal      = "finish"
	helloSignal       = "hello"
)

// The channel's custom search attributes; the worker registers them at start, so they
// are listed, not required.
var channelSearchAttributes = []string{"ConversationStatus", "FacebookPageID", "CustomerPSID", "AgentID"}

func main() {
	address := envOr("TEMPORAL_ADDRESS", "127.0.0.1:7333")
	namespace := envOr("TEMPORAL_NAMESPACE", "default")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, address, namespace); err != nil {
		fmt.Fprintf(os.Stderr, "clustercheck: %v\n", err)
		os.Exit(1)
	}
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

func run(ctx context.Context, address, namespace string) error {
	began := time.Now()
	// The SDK's own logging (worker start, every activity and timer) would bury the report.
	quiet := log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: quiet})
	if err != nil {
		return fmt.Errorf("dial %s: %w", address, err)
	}
	defer c.Close()
	info, err := c.WorkflowService().GetSystemInfo(ctx, nil)
	if err != nil {
		return fmt.Errorf("system info: %w", err)
	}
	fmt.Printf("connected to %s (server %s), namespace %s\n", address, info.GetServerVersion(), namespace)

	queue := "clustercheck-" + uuid.NewString()
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflowWithOptions(checkWorkflow, workflow.RegisterOptions{Name: checkWorkflowName})
	w.RegisterActivityWithOptions(echo, activity.RegisterOptions{Name: echoActivityName})
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	step := time.Now()
	id := "clustercheck:" + uuid.NewString()
	run, err := c.SignalWithStartWorkflow(ctx, id, helloSignal, "signal", client.StartWorkflowOptions{
		TaskQueue:                queue,
		WorkflowExecutionTimeout: time.Minute,
	}, checkWorkflowName)
	if err != nil {
		return fmt.Errorf("signal-with-start: %w", err)
	}
	fmt.Printf("  signal-with-start %-28s %v\n", id, time.Since(step).Round(time.Millisecond))

	step = time.Now()
	handle, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   id,
		RunID:        run.GetRunID(),
		UpdateName:   greetUpdate,
		Args:         []any{"cluster"},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	var greeting string
	if err := handle.Get(ctx, &greeting); err != nil {
		return fmt.Errorf("update result: %w", err)
	}
	if greeting != "hello, cluster" {
		return fmt.Errorf("update answered %q, want %q", greeting, "hello, cluster")
	}
	fmt.Printf("  update (activity inside)    %-17q %v\n", greeting, time.Since(step).Round(time.Millisecond))

	step = time.Now()
	if err := c.SignalWorkflow(ctx, id, run.GetRunID(), finishSignal, nil); err != nil {
		return fmt.Errorf("signal: %w", err)
	}
	var result []string
	if err := run.Get(ctx, &result); err != nil {
		return fmt.Errorf("workflow result: %w", err)
	}
	want := []string{"signal", "hello, cluster", "timer"}
	if !slices.Equal(result, want) {
		return fmt.Errorf("workflow returned %q, want %q", result, want)
	}
	fmt.Printf("  signal, 1s timer, complete  %-17s %v\n", strings.Join(result, " / "), time.Since(step).Round(time.Millisecond))

	if err := printSearchAttributes(ctx, c, namespace); err != nil {
		return err
	}
	fmt.Printf("ok: the server ran the workflow in %v\n", time.Since(began).Round(time.Millisecond))
	return nil
}

// checkWorkflow records what happened to it: the signal that started it, the greeting
// its update produced through an activity, and a durable timer; it ends on "finish".
func checkWorkflow(ctx workflow.Context) ([]string, error) {
	var seen []string
	var started string
	workflow.GetSignalChannel(ctx, helloSignal).Receive(ctx, &started)
	seen = append(seen, started)

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
	})
	err := workflow.SetUpdateHandlerWithOptions(ctx, greetUpdate,
		func(ctx workflow.Context, name string) (string, error) {
			var greeting string
			if err := workflow.ExecuteActivity(actx, echoActivityName, "hello, "+name).Get(ctx, &greeting); err != nil {
				return "", err
			}
			seen = append(seen, greeting)
			return greeting, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(name string) error {
			if name == "" {
				return errors.New("a name is required")
			}
			return nil
		}},
	)
	if err != nil {
		return nil, err
	}
	workflow.GetSignalChannel(ctx, finishSignal).Receive(ctx, nil)
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	seen = append(seen, "timer")
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return nil, err
	}
	return seen, nil
}

func echo(_ context.Context, s string) (string, error) { return s, nil }

func printSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	for _, name := range channelSearchAttributes {
		t, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			fmt.Printf("  search attribute %-18s not registered (the worker registers it)\n", name)
		case t != enums.INDEXED_VALUE_TYPE_KEYWORD:
			return fmt.Errorf("search attribute %s is %v, want Keyword", name, t)
		default:
			fmt.Printf("  search attribute %-18s Keyword\n", name)
		}
	}
	return nil
}
