//go:build integration

package stmtcache_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/lib/pq"

	"fbchannel/schema"
	"fbchannel/schema/schematest"
	"fbchannel/stmtcache"
)

// open is a pool of one connection (so every statement below meets the same
// cache) that keeps size statements prepared, on a database of its own with
// an empty table notes (id int PRIMARY KEY, body text NOT NULL).
func open(t *testing.T, size int) *sql.DB {
	t.Helper()
	dsn := schematest.NewURL(t, "fbchannel_stmtcache_test_")
	if err := schema.EnsureDatabase(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(stmtcache.New(connector, size))
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// prepared lists the statements the connection has prepared, by their text.
func prepared(t *testing.T, db *sql.DB) map[string]bool {
	t.Helper()
	rows, err := db.Query(`SELECT statement FROM pg_prepared_statements`) // no arguments: not cached itself
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got[s] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// A statement with arguments is prepared once and run again from the cache
// with new arguments and the right answers; beyond the bound the least
// recently used one is closed; a statement without arguments is never kept.
func TestStatementsArePreparedOnceAndBounded(t *testing.T) {
	db := open(t, 2)
	ctx := context.Background()
	insert := `INSERT INTO notes (id, body) VALUES ($1, $2)`
	byID := `SELECT body FROM notes WHERE id = $1`
	count := `SELECT count(*) FROM notes WHERE id > $1`
	for i, body := range []string{"one", "two", "three"} {
		if _, err := db.ExecContext(ctx, insert, i+1, body); err != nil {
			t.Fatal(err)
		}
	}
	for id, want := range map[int]string{1: "one", 2: "two", 3: "three"} {
		var got string
		if err := db.QueryRowContext(ctx, byID, id).Scan(&got); err != nil || got != want {
			t.Fatalf("note %d = %q, %v; want %q", id, got, err, want)
		}
	}
	if got := prepared(t, db); len(got) != 2 || !got[insert] || !got[byID] {
		t.Fatalf("prepared statements = %v, want the insert and the select", got)
	}

	// A third statement: the insert, used least recently, is closed.
	var n int
	if err := db.QueryRowContext(ctx, count, 1).Scan(&n); err != nil || n != 2 {
		t.Fatalf("count = %d, %v; want 2", n, err)
	}
	if got := prepared(t, db); len(got) != 2 || !got[byID] || !got[count] || got[insert] {
		t.Fatalf("prepared statements = %v, want the select by id and the count", got)
	}

	// Without arguments: run as a simple query, not kept.
	if _, err := db.ExecContext(ctx, `UPDATE notes SET body = upper(body)`); err != nil {
		t.Fatal(err)
	}
	if got := prepared(t, db); len(got) != 2 {
		t.Fatalf("prepared statements = %v, the statement without arguments was kept", got)
	}
}

// In a transaction the cached statements see the transaction's rows, and a
// rollback leaves them usable.
func TestCachedStatementsWorkInTransactions(t *testing.T) {
	db := open(t, 8)
	ctx := context.Background()
	insert := `INSERT INTO notes (id, body) VALUES ($1, $2)`
	byID := `SELECT body FROM notes WHERE id = $1`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insert, 1, "draft"); err != nil {
		t.Fatal(err)
	}
	var body string
	if err := tx.QueryRowContext(ctx, byID, 1).Scan(&body); err != nil || body != "draft" {
		t.Fatalf("inside the transaction: %q, %v", body, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, byID, 1).Scan(&body); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("after the rollback: %q, %v; want no rows", body, err)
	}
	if _, err := db.ExecContext(ctx, insert, 1, "kept"); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, byID, 1).Scan(&body); err != nil || body != "kept" {
		t.Fatalf("after the insert: %q, %v", body, err)
	}
}

// A migration that changes a cached statement's result type: the next run of
// it fails once (Postgres refuses the old plan), and the one after prepares
// it again and answers with the new type.
func TestAStatementMadeStaleByAMigrationIsPreparedAgain(t *testing.T) {
	db := open(t, 8)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `INSERT INTO notes (id, body) VALUES ($1, $2)`, 1, "42"); err != nil {
		t.Fatal(err)
	}
	all := `SELECT * FROM notes WHERE id = $1`
	var id int
	var body string
	if err := db.QueryRowContext(ctx, all, 1).Scan(&id, &body); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ALTER TABLE notes ALTER COLUMN body TYPE int USING body::int`); err != nil {
		t.Fatal(err)
	}
	err := db.QueryRowContext(ctx, all, 1).Scan(&id, &body)
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "0A000" {
		t.Fatalf("first run after the migration: %v, want Postgres's cached plan error", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, all, 1).Scan(&id, &n); err != nil || n != 42 {
		t.Fatalf("second run after the migration: %d, %v; want 42", n, err)
	}
}
