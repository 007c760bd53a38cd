// Command devstack is `make run` and `make stop` once scripts/dev.sh has found
// Postgres (DATABASE_URL) and built the programs into -bin:
//
//	devstack run    starts the Temporal dev server (UI included), the Graph API
//	                simulator, the worker and the starter, each in its own session
//	                and logging to <data>/logs/<name>.log, waits until each is
//	                ready, creates the demo data (devseed) and prints the URLs and
//	                credentials; Ctrl-C or SIGTERM stops everything in reverse
//	                order, and a program that exits takes the stack down with it
//	devstack stop   stops a running `devstack run` (which stops its programs),
//	                then whatever a killed one left behind (by <data>/pids)
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"fbchannel/app"
	"fbchannel/supervise"
)

type config struct {
	bin, data                                           string
	temporalPort, uiPort, simPort, starterPort, opsPort int
}

// services are the programs `run` starts, in start order; they stop in reverse.
var services = []string{"temporal", "graphsim", "worker", "starter"}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "run" && os.Args[1] != "stop") {
		fmt.Fprintln(os.Stderr, "usage: devstack run|stop [flags]")
		os.Exit(2)
	}
	cmd := os.Args[1]
	var cfg config
	fs := flag.NewFlagSet("devstack "+cmd, flag.ExitOnError)
	fs.StringVar(&cfg.bin, "bin", "bin", "directory holding temporal, graphsim, worker, starter and devseed")
	fs.StringVar(&cfg.data, "data", ".data", "directory for logs, pids, the Temporal database, the dev SECRETS_KEY and the demo credentials")
	fs.IntVar(&cfg.temporalPort, "temporal-port", 7233, "Temporal frontend port")
	fs.IntVar(&cfg.uiPort, "ui-port", 8233, "Temporal UI port")
	fs.IntVar(&cfg.simPort, "sim-port", 8090, "Graph API simulator port")
	fs.IntVar(&cfg.starterPort, "starter-port", 8080, "starter port")
	fs.IntVar(&cfg.opsPort, "ops-port", 9090, "worker ops port (/healthz, /readyz, /metrics)")
	_ = fs.Parse(os.Args[2:])
	var err error
	if cfg.bin, err = filepath.Abs(cfg.bin); err != nil {
		fail(err)
	}
	if cmd == "stop" {
		stop(cfg)
		return
	}
	os.Exit(run(cfg))
}

func say(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func warn(format string, args ...any) { fmt.Fprintf(os.Stderr, "WARNING: "+format+"\n", args...) }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ERROR:", err)
	os.Exit(1)
}

func (c config) path(parts ...string) string {
	return filepath.Join(append([]string{c.data}, parts...)...)
}

func (c config) program(name string) string { return filepath.Join(c.bin, name) }

// stop ends a running `devstack run` (it stops its own programs in order), then
// any program a killed run left behind.
func stop(cfg config) {
	pidFile := cfg.path("pids", "devstack.pid")
	if raw, err := os.ReadFile(pidFile); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(raw))); pid > 0 && pid != os.Getpid() && supervise.Runs(pid, cfg.program("devstack")) {
			say("Stopping the running 'make run' (pid %d)", pid)
			_ = syscall.Kill(pid, syscall.SIGTERM)
			for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline) && supervise.Runs(pid, cfg.program("devstack")); {
				time.Sleep(250 * time.Millisecond)
			}
		}
		_ = os.Remove(pidFile)
	}
	for i := len(services) - 1; i >= 0; i-- {
		name := services[i]
		// The worker gives running activities up to 20s to finish.
		if supervise.StopPIDFile(cfg.path("pids", name+".pid"), cfg.program(name), 30*time.Second) {
			say("Stopped %s", name)
		}
	}
}

func run(cfg config) int {
	for _, d := range []string{cfg.data, cfg.path("logs"), cfg.path("pids")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			fail(err)
		}
	}
	for _, name := range append(services, "devseed") {
		if _, err := os.Stat(cfg.program(name)); err != nil {
			fail(fmt.Errorf("%s not found in %s: scripts/dev.sh run builds it", name, cfg.bin))
		}
	}
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		fail(errors.New("DATABASE_URL is not set (scripts/dev.sh run finds or starts Postgres and sets it)"))
	}
	for _, p := range []int{cfg.temporalPort, cfg.uiPort, cfg.simPort, cfg.starterPort, cfg.opsPort} {
		if err := supervise.PortFree(p); err != nil {
			fail(fmt.Errorf("%v; a program this stack did not start holds it", err))
		}
	}
	secretsKey, err := devSecretsKey(cfg.path("secrets_key"))
	if err != nil {
		fail(err)
	}
	_ = os.WriteFile(cfg.path("pids", "devstack.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	defer os.Remove(cfg.path("pids", "devstack.pid"))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	temporalAddr := fmt.Sprintf("127.0.0.1:%d", cfg.temporalPort)
	simURL := fmt.Sprintf("http://127.0.0.1:%d", cfg.simPort)
	env := append(os.Environ(),
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE="+envOr("TEMPORAL_NAMESPACE", "default"),
		"TEMPORAL_TASK_QUEUE="+envOr("TEMPORAL_TASK_QUEUE", "facebook-channel"),
		"GRAPH_API_URL="+simURL,
		"GRAPH_API_VERSION="+envOr("GRAPH_API_VERSION", "v23.0"),
		fmt.Sprintf("SIM_ADDR=:%d", cfg.simPort),
		fmt.Sprintf("HTTP_ADDR=:%d", cfg.starterPort),
		fmt.Sprintf("OPS_ADDR=:%d", cfg.opsPort),
		"PUBLIC_BASE_URL="+envOr("PUBLIC_BASE_URL", fmt.Sprintf("http://localhost:%d", cfg.starterPort)),
		"ADMIN_TOKEN="+envOr("ADMIN_TOKEN", "dev-admin-token"),
		"SECRETS_KEY="+secretsKey,
	)
	process := func(name string, ready func(context.Context) error, args ...string) *supervise.Process {
		log := cfg.path("logs", name+".log")
		_ = os.Truncate(log, 0)
		return &supervise.Process{
			Name: name, Path: cfg.program(name), Args: args, Env: env, LogPath: log,
			PIDFile: cfg.path("pids", name+".pid"), Ready: ready, Logf: say,
		}
	}
	dbFile, _ := filepath.Abs(cfg.path("temporal.db"))
	temporal := process("temporal", func(ctx context.Context) error {
		return exec.CommandContext(ctx, cfg.program("temporal"), "operator", "cluster", "health", "--address", temporalAddr).Run()
	}, append([]string{"server", "start-dev",
		"--ip", "127.0.0.1", "--port", strconv.Itoa(cfg.temporalPort), "--ui-port", strconv.Itoa(cfg.uiPort),
		"--db-filename", dbFile, "--log-level", "warn",
		"--search-attribute", "ConversationStatus=Keyword",
		"--search-attribute", "FacebookPageID=Keyword",
		"--search-attribute", "CustomerPSID=Keyword",
		"--search-attribute", "AgentID=Keyword"}, app.DevServerArgs...)...)
	graphsim := process("graphsim", supervise.HTTPReady(simURL+"/_sim/requests?path_suffix=/none"))
	// Ready once it has migrated the database and reaches Temporal.
	worker := process("worker", supervise.HTTPReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", cfg.opsPort)))
	starter := process("starter", supervise.HTTPReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", cfg.starterPort)))
	stack := []*supervise.Process{temporal, graphsim, worker, starter}
	stopAll := func() {
		fmt.Println()
		supervise.StopAll(30*time.Second, stack...)
		say("Stopped.")
	}

	steps := []struct {
		p     *supervise.Process
		what  string
		bound time.Duration
	}{
		{temporal, "the Temporal dev server", 90 * time.Second},
		{graphsim, "the Graph API simulator", 30 * time.Second},
		{worker, "the worker", 90 * time.Second},
		{starter, "the starter", 30 * time.Second},
	}
	for _, s := range steps {
		say("Starting %s (log: %s)", s.what, display(s.p.LogPath))
		if err := s.p.Restart(ctx, "make run", s.bound); err != nil {
			if ctx.Err() != nil {
				stopAll()
				return 0
			}
			report(s.p, err.Error())
			stopAll()
			return 1
		}
	}

	say("Creating demo data (cmd/devseed, through the HTTP APIs)")
	starterURL := fmt.Sprintf("http://localhost:%d", cfg.starterPort)
	seeded := seed(ctx, cfg, env, starterURL, fmt.Sprintf("http://localhost:%d", cfg.simPort))
	banner(cfg, starterURL, envOr("ADMIN_TOKEN", "dev-admin-token"), databaseURL)
	if !seeded {
		fmt.Fprintf(os.Stderr, "\nWARNING: devseed failed (above, and %s); the stack stays up for debugging.\n", display(cfg.path("logs", "devseed.log")))
	}

	// Stay in the foreground; a program that dies takes the stack down with it.
	exited := make(chan *supervise.Process, len(stack))
	for _, p := range stack {
		go func() {
			<-p.Exited()
			exited <- p
		}()
	}
	select {
	case <-ctx.Done():
		stopAll()
		return 0
	case p := <-exited:
		report(p, "exited")
		stopAll()
		return 1
	}
}

// report says which program failed and shows the end of its log.
func report(p *supervise.Process, what string) {
	fmt.Fprintf(os.Stderr, "\nERROR: %s %s. Last lines of %s:\n%s\n", p.Name, what, display(p.LogPath), supervise.TailFile(p.LogPath, 25))
}

// seed runs devseed, its output on the terminal and in its log.
func seed(ctx context.Context, cfg config, env []string, starterURL, simURL string) bool {
	log, err := os.Create(cfg.path("logs", "devseed.log"))
	if err != nil {
		warn("%v", err)
		return false
	}
	defer log.Close()
	envFile, _ := filepath.Abs(cfg.path("demo.env"))
	cmd := exec.CommandContext(ctx, cfg.program("devseed"))
	cmd.Env = append(env, "STARTER_URL="+starterURL, "SIM_URL="+simURL, "DEVSEED_ENV_FILE="+envFile)
	out := io.MultiWriter(os.Stdout, log)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run() == nil
}

func banner(cfg config, starterURL, adminToken, databaseURL string) {
	logs := display(cfg.path("logs"))
	fmt.Printf(`
fbchannel is running. Ctrl-C (or `+"`make stop`"+` in another terminal) stops everything.

  starter (admin + agent API)  %[1]s      agent desk: %[1]s/desk
  Temporal UI                  http://localhost:%[2]d
  Graph API simulator          http://localhost:%[3]d      (control API under /_sim/)
  admin token                  %[4]s
  Postgres                     %[5]s
  logs                         %[6]s/{temporal,graphsim,worker,starter}.log
  demo credentials             %[7]s

A customer writes to the demo page (the simulator signs and posts the webhook):
  . %[7]s && curl -sS -XPOST localhost:%[3]d/_sim/customer/messages \
    -d "{\"callback_url\":\"$CALLBACK_URL\",\"app_secret\":\"$APP_SECRET\",\"page_id\":\"$PAGE_ID\",\"psid\":\"$PSID\",\"text\":\"Hello\"}"
`, starterURL, cfg.uiPort, cfg.simPort, adminToken, redact(databaseURL), logs, display(cfg.path("demo.env")))
}

// devSecretsKey is the dev stack's SECRETS_KEY, made once and kept in path, so
// the secrets stored by one run open in the next.
func devSecretsKey(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", err
	}
	s := base64.StdEncoding.EncodeToString(key)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// display is a path as the user typed it: relative to the working directory
// when inside it.
func display(p string) string {
	wd, err := os.Getwd()
	if err != nil {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if rel, err := filepath.Rel(wd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// redact hides a password in a database URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "***")
		return strings.Replace(u.String(), "%2A%2A%2A", "***", 1)
	}
	return raw
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
