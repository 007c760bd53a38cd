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
	"fbchannel/codec"
	"fbchannel/ops"
	"fbchannel/secrets"
	"fbchannel/store"
	"fbchannel/tracing"
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
	// Tracing (off unless an endpoint is set) and payload encryption with its
	// codec endpoint (off unless a key is set) extend CONTRACT.md; see README "Operations".
	OTLPEndpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTLPTracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	OTelSDKDisabled    bool   `env:"OTEL_SDK_DISABLED"`
	PayloadKey         string `env:"PAYLOAD_ENCRYPTION_KEY"`
	PayloadOldKeys     string `env:"PAYLOAD_ENCRYPTION_OLD_KEYS"`
	CodecCORSOrigin    string `env:"CODEC_CORS_ORIGIN"`
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
	payloadCodec, err := codec.Parse(cfg.PayloadKey, cfg.PayloadOldKeys)
	if err != nil {
		return err
	}
	corsOrigins, err := codec.ParseOrigins(cfg.CodecCORSOrigin)
	if err != nil {
		return err
	}
	logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tr, interceptors, stopTracing, err := tracing.StartProcess(ctx, tracing.Config{ServiceName: tracing.StarterService,
		Endpoint: cfg.OTLPEndpoint, TracesEndpoint: cfg.OTLPTracesEndpoint, Disabled: cfg.OTelSDKDisabled}, logger)
	if err != nil {
		return err
	}
	defer stopTracing() // runs last: the last requests spans are exported

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
		// The client carries each request's span into the workflows it signals.
		Interceptors: interceptors, DataConverter: payloadCodec.DataConverter(),
	})
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer c.Close()

	handler := (&api.Server{
		Store: &store.Store{DB: db, Box: box}, Temporal: c, TaskQueue: cfg.TaskQueue,
		PublicBaseURL: cfg.PublicBaseURL, AdminToken: cfg.AdminToken, WebhookMaxBytes: cfg.WebhookMaxBytes, Log: logger,
		Metrics: metrics,
	}).Handler()
	if payloadCodec != nil {
		// /codec/encode and /codec/decode for the Temporal UI and CLI.
		handler = codec.Mount(handler, payloadCodec.Handler(codec.ServerOptions{AdminToken: cfg.AdminToken, CORSOrigins: corsOrigins}))
	}

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           tr.Handler(handler),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	logger.Info("starter listening", "addr", cfg.HTTPAddr, "tracing", tr.Enabled(), "payload_encryption", payloadCodec != nil)
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
