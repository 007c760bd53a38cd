//go:build integration

package workflows_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"fbchannel/schema"
	"fbchannel/secrets"
	"fbchannel/store"
)

// rulesStore is a store on a Postgres database of its own, dropped when the
// test ends (the business rules' workflow tests run real activities on it).
func rulesStore(t *testing.T) *store.Store {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
	}
	u, _ := url.Parse(base)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "fbchannel_rules_" + hex.EncodeToString(b)
	u.Path = "/" + name
	ctx := context.Background()
	if err := schema.EnsureDatabase(ctx, u.String()); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		u.Path = "/postgres"
		if admin, err := store.Open(ctx, u.String()); err == nil {
			_, _ = admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`)
			admin.Close()
		}
	})
	if err := schema.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	return &store.Store{DB: db, Box: box}
}
