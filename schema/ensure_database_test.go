//go:build integration

package schema_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"

	_ "github.com/lib/pq"

	"fbchannel/schema"
)

// Two workers (or a worker and a starter) starting at once both find the database
// missing and both create it; each must go on as if it had created it.
func TestEnsureDatabaseFromConcurrentProcesses(t *testing.T) {
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "fbchannel_test_ensure_" + hex.EncodeToString(b)
	u.Path = "/" + name
	dsn := u.String()
	admin := *u
	admin.Path = "/postgres"
	t.Cleanup(func() {
		db, err := sql.Open("postgres", admin.String())
		if err == nil {
			_, _ = db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
			db.Close()
		}
	})

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
