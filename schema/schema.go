// Package schema holds the Postgres migrations and applies them.
//
// Migrations are files named NNNN_description.sql, applied in name order, each in
// its own transaction, and recorded in schema_migrations. An applied migration is
// never edited: a change is a new file.
package schema

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"

	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"
)

//go:embed *.sql
var migrations embed.FS

// lockKey is an arbitrary constant shared by every worker: two workers starting
// together serialise on it instead of racing to create the same tables.
const lockKey = 7_246_001

// Migrate applies every migration not yet recorded, under a session advisory lock.
func Migrate(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: connect: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied := map[string]bool{}
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	for _, m := range Migrations() {
		version := strings.TrimSuffix(m.Name, ".sql")
		if applied[version] {
			continue
		}
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
		ib := sqlbuilder.PostgreSQL.NewInsertBuilder()
		ib.InsertInto("schema_migrations").Cols("version").Values(version)
		q, args := ib.Build()
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			tx.Rollback() //nolint:errcheck
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate: commit %s: %w", m.Name, err)
		}
	}
	return nil
}

// Migration is one migration file: its name (NNNN_description.sql) and its SQL.
type Migration struct{ Name, SQL string }

// Migrations are the migrations in the order they apply.
func Migrations() []Migration {
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		panic(err) // only for a malformed pattern
	}
	sort.Strings(names)
	out := make([]Migration, len(names))
	for i, name := range names {
		body, err := migrations.ReadFile(name)
		if err != nil {
			panic(err) // embedded: cannot fail for a name Glob gave
		}
		out[i] = Migration{Name: name, SQL: string(body)}
	}
	return out
}

// OpenServer opens the maintenance database ("postgres") of the server dsn is on,
// to create or drop the database dsn names (name).
func OpenServer(dsn string) (admin *sql.DB, u *url.URL, name string, err error) {
	u, err = url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return nil, nil, "", fmt.Errorf("DATABASE_URL must be a postgres:// URL")
	}
	name = strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return nil, nil, "", fmt.Errorf("DATABASE_URL names no database")
	}
	maintenance := *u
	maintenance.Path = "/postgres"
	admin, err = sql.Open("postgres", maintenance.String())
	return admin, u, name, err
}

// EnsureDatabase creates the database named in dsn when it does not exist, by
// connecting to the server's maintenance database "postgres".
func EnsureDatabase(ctx context.Context, dsn string) error {
	db, u, name, err := OpenServer(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("cannot reach Postgres at %s: %w", u.Redacted(), err)
	}
	if exists {
		return nil
	}
	// CREATE DATABASE takes no bind parameters; the name is quoted as an identifier.
	_, err = db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name))
	// Created by a process starting at the same time (two workers, a worker and a
	// starter): Postgres reports it as duplicate_database, or, when both CREATEs ran
	// at once, as a unique violation on its catalog (pg_database_datname_index).
	if pqErr, ok := err.(*pq.Error); ok && (pqErr.Code == "42P04" || pqErr.Code == "23505") {
		return nil
	}
	return err
}
