package measure

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/log"

	"fbchannel/app/apptest"
)

// Run is the end of a benchmark's main, after its flags: it runs run until SIGINT
// or SIGTERM and exits non-zero with one line, prefixed by name, on an error.
func Run(name string, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// QuietLogger drops the SDK's log and counts its warnings and errors, which the
// report shows: a bench that logged errors measured something else.
type QuietLogger struct{ Warnings, Errors atomic.Int64 }

func (l *QuietLogger) Debug(string, ...any) {}
func (l *QuietLogger) Info(string, ...any)  {}
func (l *QuietLogger) Warn(string, ...any)  { l.Warnings.Add(1) }
func (l *QuietLogger) Error(string, ...any) { l.Errors.Add(1) }

var _ log.Logger = (*QuietLogger)(nil)

// Stack is the flags of a bench that runs the channel in-process (app/apptest).
type Stack struct {
	TemporalCLI string
	DatabaseURL string
	KeepDB      bool
}

// Register defines the stack's flags on the command line.
func (s *Stack) Register() {
	flag.StringVar(&s.TemporalCLI, "temporal-cli", apptest.TemporalCLI(), "path of the Temporal CLI (env TEMPORAL_CLI)")
	flag.StringVar(&s.DatabaseURL, "database-url", apptest.DefaultDatabaseURL(), "Postgres URL (env DATABASE_URL); the bench creates its own database next to it")
	flag.BoolVar(&s.KeepDB, "keep-db", false, "keep the bench database instead of dropping it at the end")
}

// Scratch is the flags of a bench of queries on a database of its own, seeded
// by SQL (no Temporal, no channel).
type Scratch struct {
	DatabaseURL string
	KeepDB      bool
}

// Register defines the scratch database's flags on the command line.
func (s *Scratch) Register() {
	flag.StringVar(&s.DatabaseURL, "database-url", apptest.DefaultDatabaseURL(), "Postgres server (a fresh database is created on it)")
	flag.BoolVar(&s.KeepDB, "keep-db", false, "keep the database")
}

// Seed creates and migrates the scratch database and seeds it with seed; what
// names what is seeded, for the progress line. done closes the database and
// drops it, unless -keep-db.
func (s *Scratch) Seed(ctx context.Context, what string, seed func(*sql.DB) error) (db *sql.DB, took time.Duration, done func(), err error) {
	db, name, done, err := apptest.ScratchDatabase(ctx, s.DatabaseURL, s.KeepDB)
	if err != nil {
		return nil, 0, nil, err
	}
	Progress("seeding %s into %s", what, name)
	start := time.Now()
	if err := seed(db); err != nil {
		done()
		return nil, 0, nil, fmt.Errorf("seed: %w", err)
	}
	return db, time.Since(start), done, nil
}
