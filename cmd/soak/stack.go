package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lib/pq"
)

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
