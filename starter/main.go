// Command starter is the channel's HTTP server: Facebook webhooks, the admin API
// and the agent API. It starts, signals and updates workflows; the worker runs them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/caarlos0/env/v11"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"

	"fbchannel/api"
	"fbchannel/ops"
	"fbchannel/secrets"
	"fbchannel/store"
)

type config struct {
	DatabaseURL       string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"`
	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TaskQueue         string `env:"TEMPORAL_TASK_QUEUE" envDefault:"facebook-channel"`
	HTTPAddr          string `env:"HTTP_ADDR" envDefault:":8080"`
	PublicBaseURL     string `env:"PUBLIC_BASE_URL" envDefault:"http://localhost:8080"`
	AdminToken        string `env:"ADMIN_TOKEN,required,notEmpty"`
	SecretsKey        string `env:"SECRETS_KEY,required,notEmpty"`
	// WebhookMaxBytes extends CONTRACT.md: deliveries above it answer 413.
	WebhookMaxBytes int64 `env:"WEBHOOK_MAX_BYTES" envDefault:"1048576"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
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
	if cfg.WebhookMaxBytes <= 0 {
		return errors.New("configuration: WEBHOOK_MAX_BYTES must be positive")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := store.Open(pingCtx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	metrics := ops.NewStarter()
	// Lazy: the starter serves (and answers 503 to webhooks) while Temporal is down.
	c, err := client.NewLazyClient(client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: log.NewStructuredLogger(logger),
		MetricsHandler: metrics.TemporalHandler(),
	})
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer c.Close()

	srv := &http.Server{
		Addr: cfg.HTTPAddr,
		Handler: (&api.Server{
			Store: &store.Store{DB: db, Box: box}, Temporal: c, TaskQueue: cfg.TaskQueue,
			PublicBaseURL: cfg.PublicBaseURL, AdminToken: cfg.AdminToken, WebhookMaxBytes: cfg.WebhookMaxBytes, Log: logger,
			Metrics: metrics,
		}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	logger.Info("starter listening", "addr", cfg.HTTPAddr)
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, let in-flight webhooks finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}
