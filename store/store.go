// Package store is the Postgres side of the channel: accounts, pages, agents,
// queues, conversations, messages and the agents' event log. Every statement is
// built with go-sqlbuilder's PostgreSQL flavor.
package store

import (
	"context"
	"database/sql"

	"github.com/huandu/go-sqlbuilder"
	"github.com/lib/pq"

	"fbchannel/secrets"
	"fbchannel/stmtcache"
)

// Store wraps the database and the box that seals secrets at rest.
type Store struct {
	DB  *sql.DB
	Box *secrets.Box
	// Webhooks caches WebhookAccounts for the webhook's acknowledgement (the
	// starter's; nil reads Postgres every time).
	Webhooks *WebhookCache

	inbox inboxGroup // the webhook's group commit (inbox.go)
}

// Open connects and checks the connection.
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	connector, err := pq.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(stmtcache.New(connector, preparedPerConnection))
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// preparedPerConnection bounds the statements each connection keeps
// prepared (stmtcache): the store has a few hundred distinct statements, and
// a connection serves a handful of paths.
const preparedPerConnection = 256

var pg = sqlbuilder.PostgreSQL

// querier is *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func exec(ctx context.Context, q querier, b sqlbuilder.Builder) (sql.Result, error) {
	query, args := b.BuildWithFlavor(sqlbuilder.PostgreSQL)
	return q.ExecContext(ctx, query, args...)
}

func queryRow(ctx context.Context, q querier, b sqlbuilder.Builder) *sql.Row {
	query, args := b.BuildWithFlavor(sqlbuilder.PostgreSQL)
	return q.QueryRowContext(ctx, query, args...)
}

func query(ctx context.Context, q querier, b sqlbuilder.Builder) (*sql.Rows, error) {
	query, args := b.BuildWithFlavor(sqlbuilder.PostgreSQL)
	return q.QueryContext(ctx, query, args...)
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner = interface{ Scan(...any) error }

// queryAll runs b and reads every row with scan: an empty list, not nil, when
// there are none. The rows are closed when it returns.
func queryAll[T any](ctx context.Context, q querier, b sqlbuilder.Builder, scan func(rowScanner) (T, error)) ([]T, error) {
	rows, err := query(ctx, q, b)
	if err != nil {
		return nil, err
	}
	return scanAll(rows, scan)
}

// scanAll reads every row with scan and closes rows.
func scanAll[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	list := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}

// queryIDs runs b, which selects one text column.
func queryIDs(ctx context.Context, q querier, b sqlbuilder.Builder) ([]string, error) {
	return queryAll(ctx, q, b, func(row rowScanner) (id string, err error) {
		err = row.Scan(&id)
		return id, err
	})
}

// InTx runs fn in a transaction, committing when it returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback() //nolint:errcheck
		return err
	}
	return tx.Commit()
}

// readSnapshot runs reads in one read-only, repeatable-read transaction, so the
// parts of an answer agree with each other.
func (s *Store) readSnapshot(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// columnByID scans one column (or expression) of the row of table with this id
// into dest, locking the row FOR UPDATE when forUpdate; no such row is
// sql.ErrNoRows.
func columnByID(ctx context.Context, q querier, table, column, id string, forUpdate bool, dest any) error {
	sb := pg.NewSelectBuilder()
	sb.Select(column).From(table).Where(sb.Equal("id", id))
	if forUpdate {
		sb.ForUpdate()
	}
	return queryRow(ctx, q, sb).Scan(dest)
}
