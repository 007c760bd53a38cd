package ops

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"sync"
	"testing"
)

// fakePostgres is a database server as a connection pool sees it: it can be
// restarted, which ends every connection opened before, and stopped, which
// refuses new ones.
type fakePostgres struct {
	mu      sync.Mutex
	boot    int // which start of the server a connection belongs to
	stopped bool
}

var errRefused = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (p *fakePostgres) restart(stopped bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.boot++
	p.stopped = stopped
}

func (p *fakePostgres) Connect(context.Context) (driver.Conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil, errRefused
	}
	return &fakeConn{server: p, boot: p.boot}, nil
}

func (p *fakePostgres) Driver() driver.Driver { return nil }

type fakeConn struct {
	server *fakePostgres
	boot   int
}

// Ping fails as lib/pq's does on a connection the server has ended.
func (c *fakeConn) Ping(context.Context) error {
	c.server.mu.Lock()
	defer c.server.mu.Unlock()
	if c.boot != c.server.boot {
		return driver.ErrBadConn
	}
	return nil
}

func (c *fakeConn) Prepare(string) (driver.Stmt, error) { return nil, errors.New("not supported") }
func (c *fakeConn) Close() error                        { return nil }
func (c *fakeConn) Begin() (driver.Tx, error)           { return nil, errors.New("not supported") }

// fillPool leaves n connections idle in db, as serving traffic does.
func fillPool(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	var conns []*sql.Conn
	for range n {
		c, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Close()
	}
}

// The check answers for the database, not for the dead connections a restart
// left in the pool: ready on the first probe once Postgres is back, and while
// it is stopped the error says why (the refused dial), not "bad connection".
func TestPostgresCheckSeesPastConnectionsARestartEnded(t *testing.T) {
	server := &fakePostgres{}
	db := sql.OpenDB(server)
	defer db.Close()
	db.SetMaxIdleConns(10)
	check := PostgresCheck(db)

	fillPool(t, db, 8)
	server.restart(false)
	if err := check.Fn(context.Background()); err != nil {
		t.Fatalf("Postgres restarted and up: %v", err)
	}
	if idle := db.Stats().Idle; idle != 1 {
		t.Fatalf("the pool keeps %d connections after the check, want only the live one", idle)
	}

	fillPool(t, db, 8)
	server.restart(true)
	if err := check.Fn(context.Background()); !errors.Is(err, errRefused) {
		t.Fatalf("Postgres stopped: %v, want the refused dial", err)
	}
	server.restart(false)
	if err := check.Fn(context.Background()); err != nil {
		t.Fatalf("Postgres started again: %v", err)
	}
}
