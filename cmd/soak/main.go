// Command soak drives the Facebook channel with customer messages and agent replies
// while it crashes and restarts the pieces under it, then checks that nothing was
// lost or done twice. It is `make soak` (scripts/dev.sh soak), not part of `make test`.
//
// It runs its own stack on non-default ports: a Temporal dev server (./bin/temporal,
// SQLite file <data>/temporal.db, so state survives its restarts), the Graph API
// simulator, the worker and the starter (./bin), against a database of its own
// (dropped and created at the start of each run) in a Postgres it may restart with
// pg_ctl (dev.sh gives it a private cluster). Through the admin API it creates an
// account, a page and N agents; then customers send messages through the signed
// webhook (non-200 answers are retried with backoff, as Facebook does, and counted)
// and agents follow their event streams, reply and close conversations. At random
// moments it kills -9 the worker or the starter, restarts Postgres, or restarts the
// Temporal dev server, or keeps it down for minutes (temporal-outage). With
// -temporal-address it uses a Temporal server it does not run (make soak
// SOAK_CLUSTER=1: the real server of scripts/cluster.sh), and with -workers/-starters
// it runs several of each (starters behind a failover proxy of its own), a fault
// killing one. After the load it waits for the system to settle and checks:
//
//   - messages lost: every acknowledged customer message id is in `messages` once;
//   - messages duplicated in transcripts (facebook_message_id counted more than once);
//   - replies sent twice (Send API calls in the simulator's log with the same metadata,
//     which is our message id);
//   - conversations assigned twice (a conversation.assigned while it was already
//     assigned, from the agents' event log written in the assignment's transaction);
//   - agents over capacity (sampled from Postgres every second, and replayed exactly
//     from the event log);
//   - webhook deliveries not acknowledged 200 (reported; each must end acknowledged;
//     none at all while Temporal is down).
//
// It prints the table and exits 1 if any invariant is broken.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fbchannel/app"
	"fbchannel/supervise"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type config struct {
	messages      int
	conversations int
	agents        int
	capacity      int
	rate          float64
	concurrency   int
	duration      time.Duration
	quiesce       time.Duration
	faultEvery    time.Duration
	warmup        time.Duration
	faults        string
	outage        time.Duration
	replyProb     float64
	batchProb     float64
	redeliverProb float64
	reopenProb    float64
	closeMin      int
	closeMax      int
	idleClose     time.Duration
	seed          int64

	bin, data   string
	databaseURL string
	pgBindir    string
	pgData      string
	pgRunAs     string
	pgLog       string

	temporalPort, temporalHTTPPort, simPort, starterPort, opsPort int

	// temporalAddress, when set, is a Temporal server the soak does not run (a real
	// cluster, scripts/cluster.sh): no Temporal faults then.
	temporalAddress string
	workers         int
	starters        int
}

func parseFlags() config {
	var c config
	flag.IntVar(&c.messages, "messages", 10000, "customer messages to send")
	flag.IntVar(&c.conversations, "conversations", 500, "customers (PSIDs), each its own conversation thread")
	flag.IntVar(&c.agents, "agents", 20, "agents")
	flag.IntVar(&c.capacity, "capacity", 5, "capacity of each agent")
	flag.Float64Var(&c.rate, "rate", 13, "customer messages per second offered to the webhook")
	flag.IntVar(&c.concurrency, "concurrency", 16, "webhook deliveries in flight at most")
	flag.DurationVar(&c.duration, "duration", 14*time.Minute, "bound of the load phase; what is not sent by then is not sent")
	flag.DurationVar(&c.quiesce, "quiesce", 4*time.Minute, "bound of the wait for the system to settle after the load")
	flag.DurationVar(&c.faultEvery, "fault-every", 40*time.Second, "mean time between faults (each interval uniform in [0.5, 1.5] times this); "+
		"unless given, a shorter load gets them more often (a sixth of its expected length, at least 15s), so every kind comes round")
	flag.DurationVar(&c.warmup, "warmup", 20*time.Second, "load before the first fault")
	flag.StringVar(&c.faults, "faults", "worker,starter,postgres,temporal", "faults to inject (comma-separated; empty for none): "+
		"worker, starter, postgres, temporal (a restart), temporal-outage (Temporal stopped for -outage while customers keep sending)")
	flag.DurationVar(&c.outage, "outage", 5*time.Minute, "how long the temporal-outage fault keeps Temporal down")
	flag.Float64Var(&c.replyProb, "reply", 0.6, "probability that an agent answers a new customer message")
	flag.Float64Var(&c.batchProb, "batch", 0.1, "probability that a delivery carries 2-3 customers' messages")
	flag.Float64Var(&c.redeliverProb, "redeliver", 0.02, "probability that an acknowledged delivery is delivered again (Facebook is at-least-once)")
	flag.Float64Var(&c.reopenProb, "reopen", 0, "probability that an agent reopens a conversation it just closed")
	flag.IntVar(&c.closeMin, "close-min", 2, "an agent closes a conversation after between close-min and")
	flag.IntVar(&c.closeMax, "close-max", 5, "close-max of its replies")
	flag.DurationVar(&c.idleClose, "idle-close", 20*time.Second, "an agent closes a conversation whose customer has been quiet this long")
	flag.Int64Var(&c.seed, "seed", 0, "random seed (0: from the clock); printed, so a run can be repeated")

	flag.StringVar(&c.bin, "bin", "bin", "directory holding temporal, graphsim, worker and starter")
	flag.StringVar(&c.data, "data", ".data/soak", "directory for logs, pids, the Temporal database and the report")
	flag.StringVar(&c.databaseURL, "database-url", envOr("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:55442/fbchannel_soak?sslmode=disable"),
		"the soak's database (dropped and created at the start); env SOAK_DATABASE_URL")
	flag.StringVar(&c.pgBindir, "pg-bindir", "", "directory of pg_ctl; with -pg-data, Postgres restarts are injected")
	flag.StringVar(&c.pgData, "pg-data", "", "data directory of the Postgres cluster to restart (never give the machine's shared one)")
	flag.StringVar(&c.pgRunAs, "pg-run-as", "", "run pg_ctl as this user (root cannot)")
	flag.StringVar(&c.pgLog, "pg-log", "", "pg_ctl -l log file")

	flag.IntVar(&c.temporalPort, "temporal-port", 17233, "Temporal frontend port")
	flag.IntVar(&c.temporalHTTPPort, "temporal-http-port", 17243, "Temporal HTTP API port")
	flag.IntVar(&c.simPort, "sim-port", 18090, "simulator port")
	flag.IntVar(&c.starterPort, "starter-port", 18080, "starter port")
	flag.IntVar(&c.opsPort, "ops-port", 19090, "worker ops port (/readyz, /metrics); further workers take the next ports")
	flag.StringVar(&c.temporalAddress, "temporal-address", "", "use this Temporal server (host:port, namespace default) instead of starting a dev server; "+
		"the temporal and temporal-outage faults are then not injected")
	flag.IntVar(&c.workers, "workers", 1, "worker processes (a worker fault kills one of them)")
	flag.IntVar(&c.starters, "starters", 1, "starter processes; with more than one the soak serves -starter-port itself, "+
		"a reverse proxy over starters on the next ports (a starter fault kills one of them)")
	flag.Parse()
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	if !given["fault-every"] && c.rate > 0 {
		expected := time.Duration(float64(c.messages) / c.rate * float64(time.Second))
		c.faultEvery = min(c.faultEvery, max(15*time.Second, expected/6))
	}
	if c.seed == 0 {
		c.seed = time.Now().UnixNano()
	}
	return c
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

var (
	logMu   sync.Mutex
	started = time.Now()
)

// logf prints progress with the time since the start, on stderr.
func logf(format string, args ...any) {
	logMu.Lock()
	defer logMu.Unlock()
	fmt.Fprintf(os.Stderr, "[%7.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func main() {
	cfg := parseFlags()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "soak: %v\n", err)
		if code == 0 {
			code = 2
		}
	}
	os.Exit(code)
}

// soak is one run: its stack, its data and what it observed.
type soak struct {
	cfg   config
	runID string

	pg       *postgres
	temporal *supervise.Process // nil with -temporal-address
	graphsim *supervise.Process
	workers  []*supervise.Process
	starters []*supervise.Process
	proxy    *supervise.Proxy // with more than one starter

	adminToken, secretsKey string
	starterURL, simURL     string

	// What devseed-like setup created.
	appID, appSecret, pageID, pageToken string
	accountID, pageUUID, callbackURL    string

	customers *driver
	desk      *desk
	faults    *injector
	monitor   *monitor
}

func run(ctx context.Context, cfg config) (int, error) {
	s := &soak{cfg: cfg, runID: randomHex(4)}
	logf("soak run %s: %d messages over %d conversations, %d agents × capacity %d, rate %.1f/s, seed %d, GOMAXPROCS %d",
		s.runID, cfg.messages, cfg.conversations, cfg.agents, cfg.capacity, cfg.rate, cfg.seed, runtime.GOMAXPROCS(0))
	if err := s.prepare(ctx); err != nil {
		return 2, err
	}
	defer s.stopAll()
	if err := s.startStack(ctx); err != nil {
		return 2, err
	}
	if err := s.seed(ctx); err != nil {
		return 2, err
	}

	s.monitor = newMonitor(s)
	monCtx, stopMonitor := context.WithCancel(context.Background())
	var monWG sync.WaitGroup
	monWG.Add(1)
	go func() { defer monWG.Done(); s.monitor.run(monCtx) }()

	deskCtx, stopDesk := context.WithCancel(context.Background())
	deskDone := make(chan struct{})
	go func() { defer close(deskDone); s.desk.run(deskCtx) }()

	// The load, with faults from warm-up until it ends.
	loadStart := time.Now()
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.duration)
	faultCtx, stopFaults := context.WithCancel(loadCtx)
	faultsDone := make(chan struct{})
	go func() { defer close(faultsDone); s.faults.run(faultCtx, loadStart) }()
	s.customers.drive(loadCtx)
	sendEnd := time.Now()
	s.desk.windDown.Store(true)
	stopFaults()
	<-faultsDone // a fault in progress finishes: everything is up again
	stopLoad()
	if ctx.Err() != nil {
		stopDesk()
		stopMonitor()
		return 130, errors.New("interrupted")
	}
	logf("load phase over after %s: %d messages offered; waiting for deliveries in retry and for the system to settle (at most %s)",
		sendEnd.Sub(loadStart).Round(time.Second), s.customers.offered(), cfg.quiesce)

	// Settle: retries finish, every acknowledged message is recorded, every reply
	// is resolved, and the queue is empty; agents keep working meanwhile.
	settleCtx, stopSettle := context.WithTimeout(ctx, cfg.quiesce)
	s.customers.waitAcked(settleCtx)
	ackedAt := time.Now()
	settled := s.monitor.waitQuiet(settleCtx)
	stopSettle()
	quietAt := time.Now()
	s.customers.abandon() // any delivery still in retry now counts as never acknowledged
	stopDesk()
	<-deskDone
	time.Sleep(2 * time.Second) // sends answered just now reach the simulator's log
	stopMonitor()
	monWG.Wait()
	s.monitor.pollSimLog(context.Background())

	res := &result{loadStart: loadStart, sendEnd: sendEnd, ackedAt: ackedAt, quietAt: quietAt, settled: settled}
	s.check(context.Background(), res)
	s.saveEvidence(context.Background(), res)
	report := s.report(res)
	fmt.Print(report)
	path := filepath.Join(cfg.data, "report-"+s.runID+".md")
	if err := os.WriteFile(path, []byte(report), 0o644); err == nil {
		_ = os.WriteFile(filepath.Join(cfg.data, "report-latest.md"), []byte(report), 0o644)
		logf("report written to %s", path)
	}
	if res.violations > 0 {
		return 1, fmt.Errorf("%d invariant(s) broken", res.violations)
	}
	return 0, nil
}

func (s *soak) prepare(ctx context.Context) error {
	cfg := s.cfg
	for _, d := range []string{cfg.data, filepath.Join(cfg.data, "logs"), filepath.Join(cfg.data, "pids")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if cfg.workers < 1 || cfg.starters < 1 {
		return errors.New("-workers and -starters must be at least 1")
	}
	for _, name := range []string{"temporal", "graphsim", "worker", "starter"} {
		if _, err := os.Stat(filepath.Join(cfg.bin, name)); err != nil {
			return fmt.Errorf("%s not found in %s: build first (scripts/dev.sh soak does)", name, cfg.bin)
		}
	}
	ports := []int{cfg.simPort, cfg.starterPort}
	if cfg.temporalAddress == "" {
		ports = append(ports, cfg.temporalPort, cfg.temporalHTTPPort)
	}
	for i := range cfg.workers {
		ports = append(ports, cfg.opsPort+i)
	}
	for i := 1; i < cfg.starters; i++ {
		ports = append(ports, cfg.starterPort+i)
	}
	for _, p := range ports {
		if err := supervise.PortFree(p); err != nil {
			return err
		}
	}
	s.pg = &postgres{url: cfg.databaseURL, bindir: cfg.pgBindir, data: cfg.pgData, runAs: cfg.pgRunAs, log: cfg.pgLog}
	if err := s.pg.waitReady(ctx, 30*time.Second); err != nil {
		return fmt.Errorf("the soak's Postgres (%s): %w", redact(cfg.databaseURL), err)
	}
	if err := s.pg.resetDatabase(ctx); err != nil {
		return err
	}
	if s.pg.canRestart() {
		// dev.sh's private clusters trade durability for speed (synchronous_commit =
		// off), and with that a crash (pg_ctl -m immediate) loses commits Postgres has
		// already acknowledged: the service would be blamed for Postgres's documented
		// trade. Commits of the soak's cluster survive a crash of Postgres (fsync stays
		// off: that only matters if the machine itself goes down).
		if err := s.pg.setSystem(ctx, "synchronous_commit", "on"); err != nil {
			return err
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(filepath.Join(cfg.data, "temporal.db"+suffix))
	}
	logs, _ := filepath.Glob(filepath.Join(cfg.data, "logs", "*.log"))
	for _, l := range logs {
		if filepath.Base(l) != "postgres.log" {
			_ = os.Truncate(l, 0)
		}
	}
	return nil
}

func redact(url string) string {
	at := strings.Index(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 {
		return url
	}
	userinfo := url[scheme+3 : at]
	if user, _, ok := strings.Cut(userinfo, ":"); ok {
		return url[:scheme+3] + user + ":***" + url[at:]
	}
	return url
}

func (s *soak) startStack(ctx context.Context) error {
	cfg := s.cfg
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s.secretsKey = base64.StdEncoding.EncodeToString(key)
	s.adminToken = "soak-admin-" + randomHex(12)
	s.starterURL = fmt.Sprintf("http://127.0.0.1:%d", cfg.starterPort)
	s.simURL = fmt.Sprintf("http://127.0.0.1:%d", cfg.simPort)
	temporalAddr := s.temporalAddr()
	bin := func(n string) string { p, _ := filepath.Abs(filepath.Join(cfg.bin, n)); return p }
	logPath := func(n string) string { return filepath.Join(cfg.data, "logs", n+".log") }
	pidPath := func(n string) string { return filepath.Join(cfg.data, "pids", n+".pid") }
	dbFile, _ := filepath.Abs(filepath.Join(cfg.data, "temporal.db"))

	env := append(os.Environ(),
		"DATABASE_URL="+cfg.databaseURL,
		"TEMPORAL_ADDRESS="+temporalAddr,
		"TEMPORAL_NAMESPACE=default",
		"TEMPORAL_TASK_QUEUE=facebook-channel",
		"GRAPH_API_URL="+s.simURL,
		"GRAPH_API_VERSION=v23.0",
		"SECRETS_KEY="+s.secretsKey,
		"ADMIN_TOKEN="+s.adminToken,
		"PUBLIC_BASE_URL="+s.starterURL,
		"SIM_ADDR="+fmt.Sprintf("127.0.0.1:%d", cfg.simPort),
	)
	with := func(extra ...string) []string { return append(append([]string(nil), env...), extra...) }
	if cfg.temporalAddress == "" {
		s.temporal = s.devServer(env, bin, logPath, pidPath, dbFile)
	}
	s.graphsim = &supervise.Process{Name: "graphsim", Path: bin("graphsim"), Env: env, LogPath: logPath("graphsim"), PIDFile: pidPath("graphsim"), Logf: logf,
		Ready: supervise.HTTPReady(s.simURL + "/_sim/requests?path_suffix=/none")}
	// One process keeps the plain names (worker, starter); more are numbered.
	name := func(base string, i, n int) string {
		if n == 1 {
			return base
		}
		return fmt.Sprintf("%s%d", base, i+1)
	}
	for i := range cfg.workers {
		n := name("worker", i, cfg.workers)
		ops := cfg.opsPort + i
		s.workers = append(s.workers, &supervise.Process{Name: n, Path: bin("worker"), Env: with(fmt.Sprintf("OPS_ADDR=127.0.0.1:%d", ops)),
			LogPath: logPath(n), PIDFile: pidPath(n), Logf: logf,
			Ready: supervise.HTTPReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", ops))})
	}
	var backends []string
	for i := range cfg.starters {
		n := name("starter", i, cfg.starters)
		port := cfg.starterPort
		if cfg.starters > 1 {
			port = cfg.starterPort + 1 + i
		}
		backends = append(backends, fmt.Sprintf("127.0.0.1:%d", port))
		s.starters = append(s.starters, &supervise.Process{Name: n, Path: bin("starter"), Env: with(fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port)),
			LogPath: logPath(n), PIDFile: pidPath(n), Logf: logf,
			Ready: supervise.HTTPReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))})
	}
	if cfg.starters > 1 {
		proxy, err := supervise.StartProxy(fmt.Sprintf("127.0.0.1:%d", cfg.starterPort), backends)
		if err != nil {
			return err
		}
		s.proxy = proxy
		logf("starters behind a reverse proxy on %s: %s", s.starterURL, strings.Join(backends, ", "))
	}
	for _, p := range s.processes() {
		logf("starting %s (log %s)", p.Name, p.LogPath)
		if err := p.Restart(ctx, "initial start", restartBound); err != nil {
			return err
		}
	}
	return nil
}

// temporalAddr is the Temporal frontend the services and the soak use.
func (s *soak) temporalAddr() string {
	if s.cfg.temporalAddress != "" {
		return s.cfg.temporalAddress
	}
	return fmt.Sprintf("127.0.0.1:%d", s.cfg.temporalPort)
}

// processes are the programs the soak runs, in start order (nil-free).
func (s *soak) processes() []*supervise.Process {
	var ps []*supervise.Process
	if s.temporal != nil {
		ps = append(ps, s.temporal)
	}
	ps = append(ps, s.graphsim)
	ps = append(ps, s.workers...)
	return append(ps, s.starters...)
}

func (s *soak) devServer(env []string, bin, logPath, pidPath func(string) string, dbFile string) *supervise.Process {
	cfg := s.cfg
	temporalAddr := s.temporalAddr()
	p := &supervise.Process{
		Name: "temporal", Path: bin("temporal"), Env: env, LogPath: logPath("temporal"), PIDFile: pidPath("temporal"), Logf: logf,
		Args: []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", strconv.Itoa(cfg.temporalPort),
			"--http-port", strconv.Itoa(cfg.temporalHTTPPort), "--headless",
			"--db-filename", dbFile, "--log-level", "warn",
			// WAL and no fsync: a restart of the server (a process exit) loses nothing
			// the OS has been given, and the file store keeps up with the load.
			"--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=off",
			"--search-attribute", "ConversationStatus=Keyword",
			"--search-attribute", "FacebookPageID=Keyword",
			"--search-attribute", "CustomerPSID=Keyword",
			"--search-attribute", "AgentID=Keyword"},
	}
	p.Args = append(p.Args, app.DevServerArgs...)
	p.Ready = func(ctx context.Context) error {
		out, err := execOutput(ctx, bin("temporal"), "operator", "cluster", "health", "--address", temporalAddr)
		if err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
		}
		return nil
	}
	return p
}

// restartBound is how long a (re)started program may take to be ready.
const restartBound = 90 * time.Second

func (s *soak) stopAll() {
	supervise.StopAll(30*time.Second, s.processes()...)
	if s.proxy != nil {
		s.proxy.Close()
	}
}
