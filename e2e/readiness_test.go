//go:build integration

package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fbchannel/api"
	"fbchannel/ops"
	"fbchannel/schema"
	"fbchannel/secrets"
	"fbchannel/store"
)

// privatePostgres is a Postgres cluster of the test's own, on a free port, which
// the test may stop and start again; the shared one at DATABASE_URL it must not.
type privatePostgres struct {
	t      *testing.T
	bindir string // of initdb and pg_ctl
	data   string
	log    string
	port   int
	runAs  string // "postgres" when the test runs as root: initdb and the server refuse root
}

// postgresBindir finds initdb and pg_ctl as scripts/dev.sh does: PG_BINDIR, then
// PATH, then the newest of the distributions' server directories.
func postgresBindir() (string, bool) {
	usable := func(d string) bool {
		for _, p := range []string{"initdb", "pg_ctl"} {
			if fi, err := os.Stat(filepath.Join(d, p)); err != nil || fi.Mode()&0o111 == 0 {
				return false
			}
		}
		return true
	}
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, usable(d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && usable(filepath.Dir(real)) {
			return filepath.Dir(real), true
		}
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
		m, _ := filepath.Glob(pattern)
		dirs = append(dirs, m...)
	}
	major := func(d string) int { // "/usr/lib/postgresql/15/bin" → 15
		n, _ := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(filepath.Base(filepath.Dir(d)), "pgsql-"), "postgresql"))
		return n
	}
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if usable(d) {
			return d, true
		}
	}
	return "", false
}

// startPrivatePostgres creates a cluster in a t.TempDir() and starts it; it is
// stopped when the test ends.
func startPrivatePostgres(t *testing.T) *privatePostgres {
	t.Helper()
	bindir, ok := postgresBindir()
	if !ok {
		t.Skip("no Postgres server programs (initdb, pg_ctl) found; install the server or set PG_BINDIR")
	}
	pg := &privatePostgres{t: t, bindir: bindir}
	var owner *user.User
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skip("running as root, and initdb refuses root; there is no postgres user to run it as (useradd --system postgres)")
		}
		owner, pg.runAs = u, u.Username
	}

	base := t.TempDir()
	if owner != nil {
		// t.TempDir() and its parent are root's and private; the postgres user
		// only needs to pass through them to reach its own directories below.
		for _, d := range []string{filepath.Dir(base), base} {
			if err := os.Chmod(d, 0o711); err != nil {
				t.Fatal(err)
			}
		}
	}
	pg.data = filepath.Join(base, "data")
	sockets := filepath.Join(base, "sockets") // not /var/run/postgresql, which may not be ours
	pg.log = filepath.Join(base, "postgres.log")
	for _, d := range []string{pg.data, sockets} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(pg.log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if owner != nil {
		uid, _ := strconv.Atoi(owner.Uid)
		gid, _ := strconv.Atoi(owner.Gid)
		for _, p := range []string{pg.data, sockets, pg.log} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
	}
	if out, err := pg.command("initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf, err := os.OpenFile(filepath.Join(pg.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A throwaway cluster: durability traded for speed, as in scripts/dev.sh.
	_, err = fmt.Fprintf(conf, "\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
		pg.port, sockets)
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	pg.start()
	// Registered after t.TempDir(), so it runs before the directory is removed.
	t.Cleanup(func() { _ = pg.command("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop").Run() })
	return pg
}

// command runs one of the server programs, as the postgres user when the test is root.
func (pg *privatePostgres) command(program string, args ...string) *exec.Cmd {
	path := filepath.Join(pg.bindir, program)
	var cmd *exec.Cmd
	if pg.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", pg.runAs, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/" // the postgres user may not be allowed into the test's directory
	return cmd
}

// pgCtl runs pg_ctl and waits for it. Its output goes to /dev/null, not a pipe:
// the postmaster it starts would hold a pipe open and Run would never return.
func (pg *privatePostgres) pgCtl(args ...string) {
	pg.t.Helper()
	if err := pg.command("pg_ctl", append([]string{"-D", pg.data, "-l", pg.log, "-w", "-t", "60"}, args...)...).Run(); err != nil {
		raw, _ := os.ReadFile(pg.log)
		pg.t.Fatalf("pg_ctl %s: %v\nlog:\n%s", strings.Join(args, " "), err, raw)
	}
}

// start starts the cluster (again), on the same data directory and port.
func (pg *privatePostgres) start() { pg.pgCtl("start") }

// stop is an operator's `pg_ctl stop -m fast`: sessions are ended, the server exits.
func (pg *privatePostgres) stop() { pg.pgCtl("-m", "fast", "stop") }

func (pg *privatePostgres) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", pg.port, database)
}

// probe is a GET of an ops endpoint: its status and body, or the transport error.
func probe(url string) (int, string, error) {
	c := http.Client{Timeout: ops.CheckTimeout + 3*time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw), nil
}

// untilStatus polls url until it answers want, failing the test at the deadline
// with the last answer; it returns the body of the answer it waited for.
func untilStatus(t *testing.T, what, url string, want int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body, err := probe(url)
		if err == nil && code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %d within %s; last answer %d %q %v", what, want, within, code, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Issue 7: readiness follows Postgres. With the database stopped the starter's
// /readyz and the worker's ops /readyz answer 503 naming Postgres (and still
// 200 on /healthz: the process is alive); with it started again on the same
// data directory and port they answer 200 again, from the same process and
// the same connection pool, no restart. A restart between two probes must not
// show at all: the connections it ended, still pooled, must not answer for the
// database.
func TestReadyzFollowsPostgresStoppedAndStartedAgain(t *testing.T) {
	parallel(t)
	pg := startPrivatePostgres(t)
	ctx := context.Background()
	dsn := pg.url("fbchannel")

	// The worker as worker/main.go wires it: database created and migrated, the
	// Postgres collector on its metrics, the ops server over both checks.
	if err := schema.EnsureDatabase(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	workerDB, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer workerDB.Close()
	if err := schema.Migrate(ctx, workerDB); err != nil {
		t.Fatal(err)
	}
	m := ops.NewWorker()
	m.Registry.MustRegister(ops.NewPostgresCollector(workerDB, nil))
	opsSrv, err := ops.Listen("127.0.0.1:0", ops.Handler(m, ops.PostgresCheck(workerDB), ops.TemporalCheck(temporalClient)))
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = opsSrv.Serve() }()
	defer opsSrv.Shutdown(context.Background())
	worker := "http://" + opsSrv.Addr()

	// The starter as starter/main.go wires it: its own pool, the api server's handler.
	starterDB, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer starterDB.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	box, err := secrets.NewBox(base64.StdEncoding.EncodeToString(key))
	if err != nil {
		t.Fatal(err)
	}
	starter := httptest.NewServer((&api.Server{
		Store: &store.Store{DB: starterDB, Box: box}, Temporal: temporalClient, TaskQueue: "fbchannel-readyz-" + randomHex(6),
		PublicBaseURL: "http://localhost", AdminToken: "admin-" + randomHex(8), WebhookMaxBytes: 64 << 10,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}).Handler())
	defer starter.Close()

	processes := []struct{ name, base string }{{"starter", starter.URL}, {"worker", worker}}
	everyProbeReady := func(when string) {
		t.Helper()
		// More probes than either pool keeps idle connections.
		for _, p := range processes {
			for i := range 12 {
				if code, body, err := probe(p.base + "/readyz"); err != nil || code != 200 {
					t.Fatalf("%s /readyz probe %d %s: %d %s %v", p.name, i+1, when, code, body, err)
				}
			}
		}
	}
	everyProbeReady("with Postgres up")

	// A restart between two probes: the pools still hold the connections it
	// ended. pg_ctl start -w returns once the server accepts connections, so
	// every probe from here must be ready, the first one included; a 503 would
	// be a dead pooled connection answering for a live database.
	holdConnections(t, starterDB, 8)
	holdConnections(t, workerDB, 8)
	pg.stop()
	pg.start()
	if v := opsValue(opsScrape(t, worker), "fbchannel_scrape_collector_success", map[string]string{"collector": "postgres"}); v != 1 {
		t.Errorf("worker fbchannel_scrape_collector_success{collector=postgres} = %v on the first scrape after a restart", v)
	}
	everyProbeReady("after a restart")

	// Stopped: not ready, naming Postgres, but alive.
	holdConnections(t, starterDB, 8)
	holdConnections(t, workerDB, 8)
	pg.stop()
	for _, p := range processes {
		body := untilStatus(t, p.name+" /readyz with Postgres stopped", p.base+"/readyz", 503, 15*time.Second)
		code, msg := opsError(t, body)
		if code != "not_ready" || !strings.Contains(msg, "postgres") || strings.Contains(msg, "temporal") {
			t.Fatalf("%s /readyz with Postgres stopped: %s", p.name, body)
		}
		if code, body, err := probe(p.base + "/healthz"); err != nil || code != 200 {
			t.Fatalf("%s /healthz with Postgres stopped: %d %s %v", p.name, code, body, err)
		}
	}
	if v := opsValue(opsScrape(t, worker), "fbchannel_scrape_collector_success", map[string]string{"collector": "postgres"}); v != 0 {
		t.Fatalf("worker fbchannel_scrape_collector_success{collector=postgres} = %v with Postgres stopped", v)
	}

	// Started again on the same data directory and port: ready again, same process.
	pg.start()
	for _, p := range processes {
		untilStatus(t, p.name+" /readyz with Postgres started again", p.base+"/readyz", 200, 30*time.Second)
	}
	everyProbeReady("after Postgres is back")
	if v := opsValue(opsScrape(t, worker), "fbchannel_scrape_collector_success", map[string]string{"collector": "postgres"}); v != 1 {
		t.Fatalf("worker fbchannel_scrape_collector_success{collector=postgres} = %v with Postgres back", v)
	}
}

// holdConnections makes db open n connections at once and then keep them idle,
// as a process that has been serving traffic does: the connections a Postgres
// restart leaves dead in the pool.
func holdConnections(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.Exec("SELECT pg_sleep(0.2)")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if idle := db.Stats().Idle; idle < n {
		t.Fatalf("the pool keeps %d idle connections, want %d", idle, n)
	}
}
