package app

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/config"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/store"
	"fbchannel/tracing"
	"fbchannel/workflows"
)

// WorkerConfig is the worker process's environment: CONTRACT.md's variables
// plus OPS_ADDR.
type WorkerConfig struct {
	config.Shared
	// OpsAddr extends CONTRACT.md: /healthz, /readyz and /metrics of the worker.
	OpsAddr string `env:"OPS_ADDR" envDefault:":9090"`
	// StickyCacheSize bounds the workflows the worker keeps in memory between
	// their tasks (README "Configuration" justifies the default).
	StickyCacheSize int `env:"WORKER_STICKY_CACHE_SIZE" envDefault:"2000"`
	VersioningConfig
}

// Worker is what the channel's Temporal worker runs on.
type Worker struct {
	// Temporal is the worker's client; made with ClientOptions, its interceptors
	// run workflows and activities in spans and its codec opens their payloads.
	Temporal  client.Client
	TaskQueue string
	Store     *store.Store
	// GraphAPIURL and GraphAPIVersion locate the Graph API (or the simulator).
	GraphAPIURL, GraphAPIVersion string
	// GraphTracer makes a span per Graph API call; nil: otel's global provider.
	GraphTracer trace.TracerProvider
	// Metrics counts sends; nil: not counted.
	Metrics *ops.Metrics
	Options worker.Options
	// AdjustActivities, when set, changes the activities before they are
	// registered (tests: fault hooks, shorter bounds).
	AdjustActivities func(*activities.Activities)
}

// New makes a worker of the task queue with every workflow and activity
// registered; Start or Run it.
func (w Worker) New() worker.Worker {
	tw := worker.New(w.Temporal, w.TaskQueue, w.Options)
	workflows.Register(tw)
	g := graph.New(w.GraphAPIURL, w.GraphAPIVersion, nil)
	g.TracerProvider = w.GraphTracer
	acts := &activities.Activities{
		Metrics:   w.Metrics,
		Store:     w.Store,
		Graph:     g,
		Temporal:  w.Temporal,
		TaskQueue: w.TaskQueue,
	}
	if w.AdjustActivities != nil {
		w.AdjustActivities(acts)
	}
	tw.RegisterActivity(acts)
	return tw
}

// RunWorker is the worker process: it creates and migrates the database,
// registers the search attributes, serves /healthz, /readyz and /metrics at
// OPS_ADDR, starts the reply sweeper and runs the worker until ctx ends.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	p, err := cfg.Start(ctx, tracing.WorkerService)
	if err != nil {
		return err
	}
	defer p.Stop() // runs last: the worker's last tasks spans are exported
	log := p.Log

	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	db, err := OpenDatabase(setupCtx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	deployment, err := cfg.DeploymentOptions(cfg.TaskQueue)
	if err != nil {
		return err
	}
	if cfg.StickyCacheSize < 1 {
		return fmt.Errorf("configuration: WORKER_STICKY_CACHE_SIZE must be at least 1 (got %d)", cfg.StickyCacheSize)
	}
	// Process-wide in the SDK, and only before the first worker is made.
	worker.SetStickyWorkflowCacheSize(cfg.StickyCacheSize)
	metrics := WorkerMetrics(db, log)
	opts, err := ClientOptions(client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: tlog.NewStructuredLogger(log),
		MetricsHandler: metrics.TemporalHandler(),
	}, p.Tracing, p.Codec)
	if err != nil {
		return err
	}
	c, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	if err := EnsureSearchAttributes(setupCtx, c, cfg.TemporalNamespace); err != nil {
		return err
	}

	opsSrv, err := ops.Listen(cfg.OpsAddr, WorkerOpsHandler(metrics, db, c))
	if err != nil {
		return fmt.Errorf("ops server at %s: %w", cfg.OpsAddr, err)
	}
	go func() {
		if err := opsSrv.Serve(); err != nil {
			log.Error("ops server stopped", "addr", cfg.OpsAddr, "err", err)
		}
	}()
	// Runs when the worker has stopped: probes and scrapes are answered until then.
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = opsSrv.Shutdown(shutdownCtx)
	}()

	w := Worker{
		Temporal: c, TaskQueue: cfg.TaskQueue, Store: &store.Store{DB: db, Box: p.Box},
		GraphAPIURL: cfg.GraphAPIURL, GraphAPIVersion: cfg.GraphAPIVersion, GraphTracer: p.Tracing.TracerProvider(),
		Metrics: metrics,
		// Running activities get this long to finish when the worker is stopped.
		Options: worker.Options{WorkerStopTimeout: 20 * time.Second, DeploymentOptions: deployment},
	}.New()
	// Fails replies the desk lost before handing them over (RELIABILITY.md, problem 4).
	if err := workflows.StartReplySweeper(setupCtx, c, cfg.TaskQueue, workflows.ReplySweeperInput{}); err != nil {
		return fmt.Errorf("start the reply sweeper: %w", err)
	}
	if err := workflows.StartRetentionSchedule(setupCtx, c, cfg.TaskQueue); err != nil {
		return fmt.Errorf("start the retention schedule: %w", err)
	}
	if deployment.UseVersioning {
		go becomeCurrentIfNone(ctx, c, deployment.Version, log)
	}
	log.Info("worker started", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress, "ops", opsSrv.Addr(),
		"tracing", p.Tracing.Enabled(), "payload_encryption", p.Codec != nil,
		"sticky_cache_size", cfg.StickyCacheSize, "versioning", deployment.UseVersioning, "deployment", deployment.Version.DeploymentName, "build_id", deployment.Version.BuildID)
	return w.Run(interruptOn(ctx))
}

// WorkerMetrics are the worker's metrics, with the Postgres collector (pages,
// queue lengths and waits, token expiry) and the KPI histograms (first wait,
// handle time) over db; the SDK's temporal_* metrics
// join them through TemporalHandler in the client's options.
func WorkerMetrics(db *sql.DB, log *slog.Logger) *ops.Metrics {
	m := ops.NewWorker()
	m.Registry.MustRegister(ops.NewPostgresCollector(db, log), ops.NewKPICollector(&store.Store{DB: db}, log))
	return m
}

// WorkerOpsHandler serves the worker's /healthz, /readyz (Postgres and
// Temporal reachable) and /metrics.
func WorkerOpsHandler(m *ops.Metrics, db *sql.DB, c client.Client) http.Handler {
	return ops.Handler(m, ops.PostgresCheck(db), ops.TemporalCheck(c))
}

// interruptOn adapts a context to the worker's interrupt channel.
func interruptOn(ctx context.Context) <-chan interface{} {
	ch := make(chan interface{})
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}
