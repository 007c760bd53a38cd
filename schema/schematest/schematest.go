// Package schematest gives an integration test a Postgres database of its own,
// on the server of DATABASE_URL (or the local default), dropped when the test
// ends, so that tests running at once never see each other's rows.
package schematest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	_ "github.com/lib/pq" // the postgres driver
)

// ServerURL is the URL of the database name on the server of DATABASE_URL
// (or the local default).
func ServerURL(t testing.TB, name string) *url.URL {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u
}

// NewURL is the URL of a database that does not exist yet, named prefix and
// random hex; whatever creates it, it is dropped when the test ends.
func NewURL(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	admin := ServerURL(t, "postgres").String()
	t.Cleanup(func() {
		if db, err := sql.Open("postgres", admin); err == nil {
			_, _ = db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
			db.Close()
		}
	})
	return ServerURL(t, name).String()
}

// Migrated is NewURL's database created on the current schema (a copy of the
// migrated template, CreateMigrated), for tests of what runs on the schema.
func Migrated(t testing.TB, prefix string) string {
	t.Helper()
	dsn := NewURL(t, prefix)
	if err := CreateMigrated(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	return dsn
}
