//go:build integration

package e2e

import (
	"os"
	"strconv"
	"testing"
)

// The load tests run in `make test` at a size that keeps the suite within its few
// minutes on a small machine, and at the full size under `make test-long`
// (TEST_LONG=1). Each test's own variable, when set to a positive number, sets its
// size outright.

// fullSize says whether the load tests run at the sizes.
func fullSize() bool { return os.Getenv("TEST_LONG") != "" && os.Getenv("TEST_LONG") != "0" }

// loadSize is a load test's size: env's value when set, else full under
// TEST_LONG, else quick.
func loadSize(t *testing.T, env string, quick, full int) int {
	t.Helper()
	n := quick
	if fullSize() {
		n = full
	}
	if v, err := strconv.Atoi(os.Getenv(env)); err == nil && v > 0 {
		n = v
	}
	t.Logf("size %d (%s; make test-long: %d)", n, env, full)
	return n
}

// TestLoad runs the load tests one after another, as one parallel test beside
// the light ones. All tests share one dev server on a small machine; two load
// tests at once (hundreds of webhook deliveries each, within seconds) push its
// signals past the starter's webhook deadline.
//
// They are one test, in the file whose name sorts first, so that they start
// first: go test resumes its parallel tests in the order the files declare them,
// and the chain (about three minutes here) is the longest thing in the package.
// Declared last, as separate tests, they started after two and a half minutes
// and ended the run alone, a minute after every other test (e2e 343 s).
// go test -run 'TestLoad/ManyConversations' runs one.
func TestLoad(t *testing.T) {
	parallel(t)
	for _, lt := range []struct {
		name string
		run  func(*testing.T)
	}{
		// The longest first.
		{"WorkerRestartDuringLoadStillAssignsEachConversationOnce", loadWorkerRestartDuringLoadStillAssignsEachConversationOnce},
		{"ManyConversationsAreEachAssignedOnceWithinCapacity", loadManyConversationsAreEachAssignedOnceWithinCapacity},
		{"PickModeExactlyOneOfTwoAgentsWins", loadPickModeExactlyOneOfTwoAgentsWins},
		{"LongConversationContinuesAsNewAndKeepsItsStateAndTranscript", loadLongConversationContinuesAsNewAndKeepsItsStateAndTranscript},
		// Its agents' affinity waits make it the slowest under contention (20 s
		// alone at the end of the run, 114 s beside the light tests in one run
		// that ran it second), so it goes last, when they are done.
		{"ReturningCustomersWithAffinityAreEachAssignedOnceWithinCapacity", loadReturningCustomersWithAffinityAreEachAssignedOnceWithinCapacity},
	} {
		t.Run(lt.name, func(t *testing.T) {
			// Its stack must not make it parallel: the chain is the point.
			inChain(t)
			lt.run(t)
		})
	}
}
