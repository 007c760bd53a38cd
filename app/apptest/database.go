package apptest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/lib/pq"

	"fbchannel/app"
)

// DefaultDatabaseURL is the Postgres the stacks create their databases next to:
// env DATABASE_URL, else the local one.
func DefaultDatabaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
}

// WithDatabase is the Postgres URL base with its database replaced by name.
func WithDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("database URL %q is not a postgres:// URL", base)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// DropDatabase removes the database name from the server base names; connections
// still open to it (a stopped worker's pool, say) are ended.
func DropDatabase(base, name string) error {
	dsn, err := WithDatabase(base, "postgres")
	if err != nil {
		return err
	}
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// isDuplicateDatabase says err is Postgres's "database already exists".
func isDuplicateDatabase(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P04"
}

// ScratchDatabase creates and migrates a fresh database fbchannel_bench_<random>
// on the server base, for a benchmark to seed; done closes it and drops it,
// unless keep (to look at it afterwards).
func ScratchDatabase(ctx context.Context, base string, keep bool) (db *sql.DB, name string, done func(), err error) {
	name = "fbchannel_bench_" + RandomHex(4)
	dsn, err := WithDatabase(base, name)
	if err != nil {
		return nil, "", nil, err
	}
	if db, err = app.OpenDatabase(ctx, dsn); err != nil {
		return nil, "", nil, err
	}
	return db, name, func() {
		db.Close()
		if !keep {
			_ = DropDatabase(base, name)
		}
	}, nil
}
