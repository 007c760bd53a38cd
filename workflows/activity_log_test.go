package workflows_test

import (
	"context"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// The tests run in package workflows_test and register the real
// *activities.Activities: a stub names its activity by method value, as the
// workflows call it, and the test environment refuses a stub whose signature
// differs from the activity the worker runs.

// a is the activities as the tests name them (never called: every one is stubbed).
var a *activities.Activities

// activityName is the name the Temporal SDK gives a function it is passed (an
// activity method, a workflow function): its name without the package.
func activityName(method any) string {
	name := runtime.FuncForPC(reflect.ValueOf(method).Pointer()).Name()
	name = strings.TrimSuffix(name, "-fm")
	return name[strings.LastIndex(name, ".")+1:]
}

// testStart is the test environment's clock at the start of every workflow.
var testStart = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func newTestEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(testStart)
	workflows.Register(env)
	env.RegisterActivity(&activities.Activities{})
	return env
}

// activityLog records the input of every activity attempt, in order.
type activityLog struct {
	mu    sync.Mutex
	calls []activityCall
}

type activityCall struct {
	name  string
	input any
}

func (l *activityLog) add(name string, input any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, activityCall{name, input})
}

// names lists the activities called, one entry per attempt.
func (l *activityLog) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		out = append(out, c.name)
	}
	return out
}

// inputsOf lists the inputs of every attempt of one activity.
func inputsOf[In any](l *activityLog, method any) []In {
	name := activityName(method)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []In
	for _, c := range l.calls {
		if c.name == name {
			out = append(out, c.input.(In))
		}
	}
	return out
}

// stub answers an activity that returns a value: it logs the input, then asks
// answer (read at call time, so a test can change it before the workflow runs).
func stub[In, Out any](env *testsuite.TestWorkflowEnvironment, l *activityLog, method any, answer *func(In) (Out, error)) *testsuite.MockCallWrapper {
	name := activityName(method)
	return env.OnActivity(method, mock.Anything, mock.Anything).Return(func(_ context.Context, in In) (Out, error) {
		l.add(name, in)
		return (*answer)(in)
	})
}

// stubErr is stub for an activity that returns only an error.
func stubErr[In any](env *testsuite.TestWorkflowEnvironment, l *activityLog, method any, answer *func(In) error) *testsuite.MockCallWrapper {
	name := activityName(method)
	return env.OnActivity(method, mock.Anything, mock.Anything).Return(func(_ context.Context, in In) error {
		l.add(name, in)
		return (*answer)(in)
	})
}

// count says how many times the activity was attempted.
func count(names []string, method any) int {
	name := activityName(method)
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

// queryState answers the workflow's state query, decoded as S.
func queryState[S any](t *testing.T, env *testsuite.TestWorkflowEnvironment) S {
	t.Helper()
	var st S
	v, err := env.QueryWorkflow(contract.QueryState)
	if err != nil {
		t.Fatalf("query %s: %v", contract.QueryState, err)
	}
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}
