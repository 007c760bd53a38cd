package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lib/pq"
)

// proc is one program of the soak's stack, started from ./bin in its own session
// (so a Ctrl-C reaches only the soak, which then stops everything in order) and
// logging to <data>/logs/<name>.log, appended across restarts.
type proc struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	pidFile string
	ready   func(ctx context.Context) error

	// op is held by whoever kills or restarts the program (the fault injector, the
	// supervisor), so they never do it at the same time.
	op sync.Mutex

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // an exit now is one the soak caused
	starts   int
}

func (p *proc) start(why string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	fmt.Fprintf(f, "\n=== soak: starting %s (%s) at %s\n", p.name, why, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done, p.expected = cmd, done, false
	p.starts++
	// dev.sh's stop_service reads these if the soak itself is killed.
	_ = os.WriteFile(p.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	return nil
}

func (p *proc) alive() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// signal sends sig to the process group and waits up to wait for the exit.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) bool {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.expected = true
	p.mu.Unlock()
	if cmd == nil || done == nil {
		return true
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(-pid, sig); err != nil {
		_ = cmd.Process.Signal(sig)
	}
	select {
	case <-done:
		return true
	case <-time.After(wait):
		return false
	}
}

// kill9 is the crash: SIGKILL, no goodbye.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL, 10*time.Second)
}

// stop is the orderly shutdown: SIGTERM, then SIGKILL after a bound.
func (p *proc) stop(bound time.Duration) {
	if !p.alive() {
		return
	}
	if !p.signal(syscall.SIGTERM, bound) {
		logf("%s did not stop within %s; killing it", p.name, bound)
		p.signal(syscall.SIGKILL, 10*time.Second)
	}
	_ = os.Remove(p.pidFile)
}

// waitReady polls the readiness check until it passes, failing early if the process dies.
func (p *proc) waitReady(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	var last error
	for time.Now().Before(deadline) {
		if !p.alive() {
			return fmt.Errorf("%s exited during start-up; see %s", p.name, p.logPath)
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		last = p.ready(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v (log %s)", p.name, bound, last, p.logPath)
}

// restart starts the program again and waits for it; one retry covers a start that
// races a dependency (e.g. the worker's migrations while Postgres comes up).
func (p *proc) restart(ctx context.Context, why string) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = p.start(why); err != nil {
			return err
		}
		if err = p.waitReady(ctx, 90*time.Second); err == nil {
			return nil
		}
		logf("%s: %v (attempt %d)", p.name, err, attempt)
		p.stop(10 * time.Second)
		time.Sleep(2 * time.Second)
	}
	return err
}

func httpReady(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
		}
		return nil
	}
}

// postgres is the soak's private cluster, restarted with pg_ctl (as the postgres
// user when the soak runs as root, like scripts/dev.sh does).
type postgres struct {
	url    string // the soak's database
	bindir string
	data   string
	runAs  string
	log    string
}

func (pg *postgres) canRestart() bool { return pg.bindir != "" && pg.data != "" }

func (pg *postgres) restart(mode string) error {
	args := []string{filepath.Join(pg.bindir, "pg_ctl"), "-D", pg.data, "-m", mode, "-w", "-t", "60", "restart"}
	if pg.log != "" {
		args = append(args, "-l", pg.log)
	}
	var cmd *exec.Cmd
	if pg.runAs != "" {
		cmd = exec.Command("runuser", append([]string{"-u", pg.runAs, "--"}, args...)...)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	cmd.Dir = "/"
	// Not a pipe: the postmaster it starts must not hold our end open.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd.Stdout, cmd.Stderr = devnull, devnull
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %w (log %s)", mode, err, pg.log)
	}
	return nil
}

func (pg *postgres) maintenanceURL() string {
	return withDatabase(pg.url, "postgres")
}

func (pg *postgres) ready(ctx context.Context) error {
	db, err := sql.Open("postgres", pg.maintenanceURL())
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

func (pg *postgres) waitReady(ctx context.Context, bound time.Duration) error {
	deadline := time.Now().Add(bound)
	for {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := pg.ready(cctx)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("postgres not answering after %s: %w", bound, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// resetDatabase drops and creates the soak's database, so every run starts empty
// (the previous run's stays for inspection until then).
func (pg *postgres) resetDatabase(ctx context.Context) error {
	name := databaseName(pg.url)
	if name == "" || name == "postgres" {
		return fmt.Errorf("the soak's DATABASE_URL must name its own database, not %q", name)
	}
	db, err := sql.Open("postgres", pg.maintenanceURL())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// setSystem sets a server parameter with ALTER SYSTEM and reloads the configuration.
func (pg *postgres) setSystem(ctx context.Context, name, value string) error {
	db, err := sql.Open("postgres", pg.maintenanceURL())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "ALTER SYSTEM SET "+pq.QuoteIdentifier(name)+" = "+pq.QuoteLiteral(value)); err != nil {
		return fmt.Errorf("ALTER SYSTEM SET %s: %w", name, err)
	}
	if _, err := db.ExecContext(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	return nil
}

func databaseName(url string) string {
	rest := url
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		rest = rest[i+1:]
	} else {
		return ""
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func withDatabase(url, db string) string {
	name := databaseName(url)
	i := strings.Index(url, "://")
	if i < 0 {
		return url
	}
	slash := strings.Index(url[i+3:], "/")
	if slash < 0 {
		return url + "/" + db
	}
	start := i + 3 + slash + 1
	return url[:start] + db + url[start+len(name):]
}

func portFree(port int) error {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil // nothing answers there
	}
	c.Close()
	return fmt.Errorf("port %d is in use (ss -ltnp 'sport = :%d'); choose another with the -*-port flags", port, port)
}
