// Package ops is what operators and orchestrators look at: liveness and readiness
// probes, Prometheus metrics (the channel's own and the Temporal SDK's), and the
// worker's small HTTP server that serves them.
package ops

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// CheckTimeout bounds each readiness check, so a probe answers within about two
// seconds even when a dependency hangs.
const CheckTimeout = 2 * time.Second

// Check is one dependency readiness depends on.
type Check struct {
	Name string // what is down, as the 503 names it: "postgres", "temporal"
	Fn   func(ctx context.Context) error
	// Degraded, when set, makes a failure of this check a warning instead of
	// "not ready": it is logged here and shown in the answer, which stays 200.
	Degraded *slog.Logger
}

// WarnOnly makes a check whose failure degrades the process without making it
// unready: the starter keeps taking webhooks into its inbox while Temporal is
// down, so taking it out of the load balancer would only lose deliveries.
func WarnOnly(c Check, log *slog.Logger) Check {
	if log == nil {
		log = slog.Default()
	}
	c.Degraded = log
	return c
}

// PostgresCheck pings the database.
//
// A restart of Postgres ends every connection the pool holds idle; each of them
// fails its next ping with driver.ErrBadConn and is dropped. database/sql retries
// getting a connection but not the ping itself, so a bare PingContext would
// answer "not ready" once for every dead connection still pooled, long after
// Postgres is back. The check pings again after a bad connection, at most once
// more than the pool had connections when it began: by then the dead ones are
// gone and the last ping dialed afresh, whose answer is the database's.
func PostgresCheck(db *sql.DB) Check {
	return Check{Name: "postgres", Fn: func(ctx context.Context) error {
		if db == nil {
			return errors.New("not configured")
		}
		var err error
		for range db.Stats().OpenConnections + 1 {
			err = db.PingContext(ctx)
			if !errors.Is(err, driver.ErrBadConn) || ctx.Err() != nil {
				return err
			}
		}
		return err
	}}
}

// TemporalCheck asks the Temporal frontend for its health. A lazy client dials
// here, so a stopped server shows up as a failed check, not a hang.
func TemporalCheck(c client.Client) Check {
	return Check{Name: "temporal", Fn: func(ctx context.Context) error {
		if c == nil {
			return errors.New("not configured")
		}
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

// Healthz answers 200 while the process is up: liveness, no dependency checked.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz answers 200 when every check passes and 503 with the contract's error
// shape, naming each dependency that is down, otherwise. The checks run
// concurrently, each bounded by CheckTimeout.
func Readyz(checks ...Check) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		errs := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), CheckTimeout)
				defer cancel()
				errs[i] = run(ctx, c)
			})
		}
		wg.Wait()
		status := map[string]string{}
		var down []string
		for i, c := range checks {
			if errs[i] != nil && c.Degraded != nil {
				c.Degraded.Warn("readiness: a dependency is down; still ready", "dependency", c.Name, "err", errs[i])
				status[c.Name] = "unavailable: " + errs[i].Error()
				continue
			}
			if errs[i] != nil {
				down = append(down, c.Name+" is not reachable: "+errs[i].Error())
				continue
			}
			status[c.Name] = "ok"
		}
		if len(down) > 0 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{
				"code": "not_ready", "message": strings.Join(down, "; "),
			}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": status})
	}
}

// run calls a check and gives up at the context's deadline even if the check
// itself ignores it.
func run(ctx context.Context, c Check) error {
	done := make(chan error, 1)
	go func() { done <- c.Fn(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.New("no answer within " + CheckTimeout.String())
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
