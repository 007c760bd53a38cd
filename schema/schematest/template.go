package schematest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/lib/pq"

	"fbchannel/schema"
)

// CreateMigrated creates the database dsn names (it must not exist yet) as a copy
// of a migrated template: a test stack or fixture then starts on the current
// schema without applying every migration again (about 0.4 s of Postgres work a
// database; a make test creates over a hundred). The template,
// fbchannel_template_<hash of the migrations>, is made once per server and set of
// migrations, by whichever process needs it first; templates of other sets of
// migrations are dropped then. Migrate on the copy finds nothing to do.
func CreateMigrated(ctx context.Context, dsn string) error {
	return createMigrated(ctx, dsn, templatePrefix)
}

// templatePrefix names the templates; tests of the template use another.
const templatePrefix = "fbchannel_template_"

func createMigrated(ctx context.Context, dsn, prefix string) error {
	db, u, name, err := schema.OpenServer(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	template, err := ensureTemplate(ctx, db, *u, prefix)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)+" TEMPLATE "+pq.QuoteIdentifier(template))
	return err
}

// templates remembers the templates this process made or found on each server
// (host+port and name).
var templates sync.Map

// templateLock is the advisory lock (in the maintenance database) under which a
// template is made: go test runs packages as processes at once.
const templateLock = 7_246_002

func ensureTemplate(ctx context.Context, db *sql.DB, server url.URL, prefix string) (string, error) {
	want := prefix + fingerprint()
	if _, ok := templates.Load(server.Host + "/" + want); ok {
		return want, nil
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, templateLock); err != nil {
		return "", fmt.Errorf("schematest: lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, templateLock) //nolint:errcheck
	var ready bool
	err = conn.QueryRowContext(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, want).Scan(&ready)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return "", err
	}
	if !ready {
		if err := makeTemplate(ctx, conn, server, prefix, want); err != nil {
			return "", err
		}
	}
	templates.Store(server.Host+"/"+want, true)
	return want, nil
}

// makeTemplate drops the templates of other migrations (and a half-made one of
// these, left by a process that died making it), creates and migrates want, and
// only then marks it a template: a database not so marked is never copied.
func makeTemplate(ctx context.Context, conn *sql.Conn, server url.URL, prefix, want string) error {
	rows, err := conn.QueryContext(ctx, `SELECT datname FROM pg_database WHERE left(datname, length($1)) = $1`, prefix)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return err
		}
		stale = append(stale, n)
	}
	rows.Close()
	for _, n := range stale {
		q := pq.QuoteIdentifier(n)
		if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+q+" IS_TEMPLATE false"); err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, "DROP DATABASE "+q+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(want)); err != nil {
		return err
	}
	server.Path = "/" + want
	tdb, err := sql.Open("postgres", server.String())
	if err != nil {
		return err
	}
	err = schema.Migrate(ctx, tdb)
	// Closed before the copies: CREATE DATABASE refuses a template with sessions.
	tdb.Close()
	if err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(want)+" IS_TEMPLATE true")
	return err
}

// fingerprint names the current set of migrations: names and contents.
func fingerprint() string {
	h := sha256.New()
	for _, m := range schema.Migrations() {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", m.Name, len(m.SQL), m.SQL)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
