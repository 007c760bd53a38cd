//go:build integration

package schematest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/lib/pq"

	"fbchannel/schema"
)

// Databases made from the template are on the current schema, also when several
// are made at once before the template exists; a half-made template (its maker
// died) is made again, and templates of other migrations are dropped.
func TestCopiesOfTheTemplateAreMigrated(t *testing.T) {
	ctx := context.Background()
	prefix := "fbchannel_tpltest_" + randomName(t) + "_"
	admin, err := sql.Open("postgres", ServerURL(t, "postgres").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() }) // after the drops below (cleanups run last first)
	exec := func(q string) {
		t.Helper()
		if _, err := admin.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	stale, halfMade := prefix+"000000000000", prefix+fingerprint()
	t.Cleanup(func() {
		for _, n := range []string{stale, halfMade} {
			_, _ = admin.Exec("ALTER DATABASE " + pq.QuoteIdentifier(n) + " IS_TEMPLATE false")
			_, _ = admin.Exec("DROP DATABASE IF EXISTS " + pq.QuoteIdentifier(n) + " WITH (FORCE)")
		}
	})
	exec("CREATE DATABASE " + pq.QuoteIdentifier(stale) + " IS_TEMPLATE true")
	exec("CREATE DATABASE " + pq.QuoteIdentifier(halfMade)) // not marked: never finished

	const copies = 4
	dsns := make([]string, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for i := range copies {
		dsns[i] = NewURL(t, "fbchannel_tplcopy_")
		wg.Go(func() { errs[i] = createMigrated(ctx, dsns[i], prefix) })
	}
	wg.Wait()
	want := len(schema.Migrations())
	for i, dsn := range dsns {
		if errs[i] != nil {
			t.Fatalf("copy %d: %v", i, errs[i])
		}
		db, err := sql.Open("postgres", dsn)
		if err != nil {
			t.Fatal(err)
		}
		var applied int
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&applied)
		if err == nil {
			err = schema.Migrate(ctx, db) // nothing left to do, and no error
		}
		db.Close()
		if err != nil || applied != want {
			t.Fatalf("copy %d: %d of %d migrations recorded (%v)", i, applied, want, err)
		}
	}
	var names []string
	rows, err := admin.QueryContext(ctx, "SELECT datname FROM pg_database WHERE datistemplate AND left(datname, length($1)) = $1", prefix)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	if len(names) != 1 || names[0] != halfMade {
		t.Fatalf("templates after: %v, want only %s", names, halfMade)
	}
}

func randomName(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
