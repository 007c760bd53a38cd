// Package stmtcache keeps each Postgres connection's parameterised statements
// prepared. lib/pq runs a statement with arguments as an unnamed statement:
// one round trip to parse and describe it, a second to bind and execute, and
// Postgres plans it again every time. The channel runs the same few hundred
// statements over and over (an opening is some twenty of them), and measured
// on the ingest benchmark Postgres spent 40% of its statement time planning
// (docs/PERFORMANCE.md, session 7). Prepared once per connection, a statement
// is one round trip, and Postgres may keep its plan.
//
// The cache sits between database/sql and lib/pq's connections, so the store's
// statements need no change. Statements without arguments still go as simple
// queries (the inbox's group insert quotes its values into the text: every
// text is new and must not be cached).
package stmtcache

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// New wraps a connector: each connection it makes keeps up to size prepared
// statements, the least recently used closed first. size < 1 is no cache.
func New(inner driver.Connector, size int) driver.Connector {
	return &connector{inner: inner, size: size}
}

type connector struct {
	inner driver.Connector
	size  int
}

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.inner.Connect(ctx)
	if err != nil || c.size < 1 {
		return cn, err
	}
	return &conn{Conn: cn, size: c.size, stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// conn is used by one goroutine at a time (database/sql's contract), so its
// cache needs no lock.
type conn struct {
	driver.Conn
	size  int
	stmts map[string]*list.Element // query → element of lru holding a *cached
	lru   *list.List               // front: most recently used
}

type cached struct {
	query string
	stmt  driver.Stmt
}

// stmt returns the connection's prepared statement for query, preparing it
// (and closing the least recently used one beyond size) when it has none.
func (c *conn) stmt(ctx context.Context, query string) (driver.Stmt, error) {
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		return e.Value.(*cached).stmt, nil
	}
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.stmts[query] = c.lru.PushFront(&cached{query: query, stmt: st})
	for c.lru.Len() > c.size {
		c.forget(c.lru.Back())
	}
	return st, nil
}

func (c *conn) forget(e *list.Element) {
	old := c.lru.Remove(e).(*cached)
	delete(c.stmts, old.query)
	_ = old.stmt.Close() // a failure leaves the connection bad; database/sql then drops it
}

// stale: Postgres no longer has the statement, or its result type changed
// under it (a migration altered a table). The error reaches the caller (an
// activity retries it); the next run prepares the statement again.
func (c *conn) dropIfStale(query string, err error) {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return
	}
	if pqErr.Code == "26000" || pqErr.Code == "0A000" { // invalid_sql_statement_name, cached plan changed
		if e, ok := c.stmts[query]; ok {
			c.forget(e)
		}
	}
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		c.dropIfStale(query, err)
	}
	return rows, err
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
	}
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
	if err != nil {
		c.dropIfStale(query, err)
	}
	return res, err
}

// The rest is lib/pq's, passed through.

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *conn) Ping(ctx context.Context) error { return c.Conn.(driver.Pinger).Ping(ctx) }

func (c *conn) ResetSession(ctx context.Context) error {
	return c.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (c *conn) IsValid() bool { return c.Conn.(driver.Validator).IsValid() }

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	return c.Conn.(driver.NamedValueChecker).CheckNamedValue(nv)
}

var (
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)
