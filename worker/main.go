// Command worker runs the Temporal worker of the Facebook channel: it applies the
// database migrations, registers the search attributes, and runs every workflow
// and activity.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/config"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/schema"
	"fbchannel/store"
	"fbchannel/tracing"
	"fbchannel/workflows"
)

type workerConfig struct {
	config.Shared
	GraphAPIURL     string `env:"GRAPH_API_URL" envDefault:"https://graph.facebook.com"`
	GraphAPIVersion string `env:"GRAPH_API_VERSION" envDefault:"v23.0"`
	// OpsAddr extends CONTRACT.md: /healthz, /readyz and /metrics of the worker.
	OpsAddr string `env:"OPS_ADDR" envDefault:":9090"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg workerConfig
	if err := config.Parse(&cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := cfg.Start(ctx, tracing.WorkerService)
	if err != nil {
		return err
	}
	defer p.Stop() // runs last: the worker's last tasks spans are exported
	log := p.Log

	setupCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := schema.EnsureDatabase(setupCtx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	db, err := store.Open(setupCtx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	if err := schema.Migrate(setupCtx, db); err != nil {
		return err
	}
	metrics := ops.NewWorker()
	metrics.Registry.MustRegister(ops.NewPostgresCollector(db, log))
	c, err := client.Dial(p.ClientOptions(metrics.TemporalHandler()))
	if err != nil {
		return fmt.Errorf("temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	if err := workflows.EnsureSearchAttributes(setupCtx, c, cfg.TemporalNamespace); err != nil {
		return err
	}

	opsSrv, err := ops.Listen(cfg.OpsAddr, ops.Handler(metrics, ops.PostgresCheck(db), ops.TemporalCheck(c)))
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

	w := worker.New(c, cfg.TaskQueue, worker.Options{
		// Running activities get this long to finish when the worker is stopped.
		WorkerStopTimeout: 20 * time.Second,
	})
	workflows.Register(w)
	graphClient := graph.New(cfg.GraphAPIURL, cfg.GraphAPIVersion, nil)
	graphClient.TracerProvider = p.Tracing.TracerProvider()
	w.RegisterActivity(&activities.Activities{
		Metrics:   metrics,
		Store:     &store.Store{DB: db, Box: p.Box},
		Graph:     graphClient,
		Temporal:  c,
		TaskQueue: cfg.TaskQueue,
	})
	// Fails replies the desk lost before handing them over (RELIABILITY.md, problem 4).
	if err := workflows.StartReplySweeper(setupCtx, c, cfg.TaskQueue, workflows.ReplySweeperInput{}); err != nil {
		return fmt.Errorf("start the reply sweeper: %w", err)
	}
	log.Info("worker started", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress, "ops", opsSrv.Addr(),
		"tracing", p.Tracing.Enabled(), "payload_encryption", p.Codec != nil)
	return w.Run(interruptOn(ctx))
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
