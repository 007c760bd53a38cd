// Command starter is the channel's HTTP server: Facebook webhooks, the admin API
// and the agent API. It starts, signals and updates workflows; the worker runs them.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/api"
	"fbchannel/codec"
	"fbchannel/config"
	"fbchannel/ops"
	"fbchannel/relay"
	"fbchannel/store"
	"fbchannel/tracing"
)

type starterConfig struct {
	config.Shared
	HTTPAddr      string `env:"HTTP_ADDR" envDefault:":8080"`
	PublicBaseURL string `env:"PUBLIC_BASE_URL" envDefault:"http://localhost:8080"`
	AdminToken    string `env:"ADMIN_TOKEN,required,notEmpty"`
	// WebhookMaxBytes extends CONTRACT.md: deliveries above it answer 413.
	WebhookMaxBytes int64 `env:"WEBHOOK_MAX_BYTES" envDefault:"1048576"`
	// CodecCORSOrigin, for the codec endpoint of payload encryption, extends
	// CONTRACT.md; see README "Operations".
	CodecCORSOrigin string `env:"CODEC_CORS_ORIGIN"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg starterConfig
	if err := config.Parse(&cfg); err != nil {
		return err
	}
	if cfg.WebhookMaxBytes <= 0 {
		return errors.New("configuration: WEBHOOK_MAX_BYTES must be positive")
	}
	corsOrigins, err := codec.ParseOrigins(cfg.CodecCORSOrigin)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := cfg.Start(ctx, tracing.StarterService)
	if err != nil {
		return err
	}
	defer p.Stop() // runs last: the last requests spans are exported

	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := store.Open(pingCtx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer db.Close()
	metrics := ops.NewStarter()
	// Lazy: the starter serves (webhooks go into the inbox) while Temporal is down.
	c, err := client.NewLazyClient(relay.ClientOptions(p.ClientOptions(metrics.TemporalHandler())))
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer c.Close()
	st := &store.Store{DB: db, Box: p.Box}

	// The inbox relay: hands committed webhook events to their conversation
	// workflows; it stops with ctx, before the database closes.
	inbox := relay.New(relay.Options{Store: st, Temporal: c, TaskQueue: cfg.TaskQueue, Log: p.Log, Metrics: metrics})
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = inbox.Run(ctx) }()
	defer func() { <-relayDone }()

	handler := (&api.Server{
		Store: st, Temporal: c, TaskQueue: cfg.TaskQueue,
		PublicBaseURL: cfg.PublicBaseURL, AdminToken: cfg.AdminToken, WebhookMaxBytes: cfg.WebhookMaxBytes, Log: p.Log,
		Metrics: metrics, Relay: inbox,
	}).Handler()
	if p.Codec != nil {
		// /codec/encode and /codec/decode for the Temporal UI and CLI.
		handler = codec.Mount(handler, p.Codec.Handler(codec.ServerOptions{AdminToken: cfg.AdminToken, CORSOrigins: corsOrigins}))
	}

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           p.Tracing.Handler(handler),
		ReadHeaderTimeout: 10 * time.Second,
	}
	errs := make(chan error, 1)
	go func() { errs <- srv.ListenAndServe() }()
	p.Log.Info("starter listening", "addr", cfg.HTTPAddr, "tracing", p.Tracing.Enabled(), "payload_encryption", p.Codec != nil)
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
