// Command worker runs the Temporal worker of the Facebook channel: it applies the
// database migrations, registers the search attributes, and runs every workflow
// and activity.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"fbchannel/activities"
	"fbchannel/codec"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/schema"
	"fbchannel/secrets"
	"fbchannel/store"
	"fbchannel/tracing"
	"fbchannel/workflows"
)

type config struct {
	DatabaseURL       string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"`
	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TaskQueue         string `env:"TEMPORAL_TASK_QUEUE" envDefault:"facebook-channel"`
	GraphAPIURL       string `env:"GRAPH_API_URL" envDefault:"https://graph.facebook.com"`
	GraphAPIVersion   string `env:"GRAPH_API_VERSION" envDefault:"v23.0"`
	SecretsKey        string `env:"SECRETS_KEY,required,notEmpty"`
	// OpsAddr extends CONTRACT.md: /healthz, /readyz and /metrics of the worker.
	OpsAddr string `env:"OPS_ADDR" envDefault:":9090"`
	// Tracing (off unless an endpoint is set) and payload encryption (off unless
	// a key is set) extend CONTRACT.md; see README "Operations".
	OTLPEndpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTLPTracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	OTelSDKDisabled    bool   `env:"OTEL_SDK_DISABLED"`
	PayloadKey         string `env:"PAYLOAD_ENCRYPTION_KEY"`
	PayloadOldKeys     string `env:"PAYLOAD_ENCRYPTION_OLD_KEYS"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	if err := env.Parse(&cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	box, err := secrets.NewBox(cfg.SecretsKey)
	if err != nil {
		return err
	}
	payloadCodec, err := codec.Parse(cfg.PayloadKey, cfg.PayloadOldKeys)
	if err != nil {
		return err
	}
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	slog.SetDefault(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, interceptors, stopTracing, err := tracing.StartProcess(ctx, tracing.Config{ServiceName: tracing.WorkerService,
		Endpoint: cfg.OTLPEndpoint, TracesEndpoint: cfg.OTLPTracesEndpoint, Disabled: cfg.OTelSDKDisabled}, log)
	if err != nil {
		return err
	}
	defer stopTracing() // runs last: the worker's last tasks spans are exported

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
	c, err := client.Dial(client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: slogAdapter(log),
		MetricsHandler: metrics.TemporalHandler(),
		// Worker interceptors come from the client: workflows and activities run in spans.
		Interceptors: interceptors, DataConverter: payloadCodec.DataConverter(),
	})
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
	graphClient.TracerProvider = tr.TracerProvider()
	w.RegisterActivity(&activities.Activities{
		Metrics:   metrics,
		Store:     &store.Store{DB: db, Box: box},
		Graph:     graphClient,
		Temporal:  c,
		TaskQueue: cfg.TaskQueue,
	})
	// Fails replies the desk lost before handing them over (RELIABILITY.md, problem 4).
	if err := workflows.StartReplySweeper(setupCtx, c, cfg.TaskQueue, workflows.ReplySweeperInput{}); err != nil {
		return fmt.Errorf("start the reply sweeper: %w", err)
	}
	log.Info("worker started", "task_queue", cfg.TaskQueue, "temporal", cfg.TemporalAddress, "ops", opsSrv.Addr(),
		"tracing", tr.Enabled(), "payload_encryption", payloadCodec != nil)
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
