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

// heavyGate lets one load test run at a time, beside the light tests. All tests
// share one dev server on a small machine, and one load test (hundreds of
// conversations opened within seconds) keeps it and Postgres busy on its own.
// (Before the inbox, two at once pushed signals past the webhook's 4-second
// deadline and deliveries failed with 503; now the webhook does not wait for
// Temporal, and the gate only keeps the run's peaks down.)
var heavyGate = make(chan struct{}, 1)

// heavy marks t a load test: parallel with the light tests, alone among the load
// tests. (A load test waiting for its turn holds one of go test's -parallel slots;
// make test's -parallel 6 leaves the light tests enough.)
func heavy(t *testing.T) {
	t.Helper()
	parallel(t)
	heavyGate <- struct{}{}
	t.Cleanup(func() { <-heavyGate })
}
