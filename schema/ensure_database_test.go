//go:build integration

package schema_test

import (
	"context"
	"database/sql"
	"sync"
	"testing"

	_ "github.com/lib/pq"

	"fbchannel/schema"
	"fbchannel/schema/schematest"
)

// Two workers (or a worker and a starter) starting at once both find the database
// missing and both create it; each must go on as if it had created it.
func TestEnsureDatabaseFromConcurrentProcesses(t *testing.T) {
	dsn := schematest.NewURL(t, "fbchannel_test_ensure_")

	const processes = 6
	errs := make([]error, processes)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range processes {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = schema.EnsureDatabase(context.Background(), dsn)
		}()
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureDatabase #%d: %v", i, err)
		}
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatalf("the database is not there: %v", err)
	}
}
