package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"fbchannel/agentevents"
	"fbchannel/api"
	"fbchannel/codec"
	"fbchannel/config"
	"fbchannel/graph"
	"fbchannel/ops"
	"fbchannel/relay"
	"fbchannel/store"
	"fbchannel/tracing"
)

// StarterConfig is the starter process's environment: CONTRACT.md's variables
// plus WEBHOOK_MAX_BYTES and CODEC_CORS_ORIGIN.
type StarterConfig struct {
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

// Starter is what the starter's HTTP handler is built from: the API server's
// dependencies (its Temporal client, made with ClientOptions, carries the
// request's span into the workflows and seals their payloads), and what wraps it.
type Starter struct {
	api.Server
	// Codec, when set, is served at /codec/encode and /codec/decode for the
	// Temporal UI and CLI, to the admin token, from CodecCORSOrigins in browsers.
	Codec            *codec.Codec
	CodecCORSOrigins []string
	// Tracing gives every request a server span; nil: none.
	Tracing *tracing.Tracing
}

// API is the API server alone: every endpoint of CONTRACT.md and the probes.
func (s Starter) API() *api.Server {
	srv := s.Server
	return &srv
}

// Handler is the starter's whole handler: the API, the codec endpoint and the
// server spans.
func (s Starter) Handler() http.Handler {
	return s.Wrap(s.API().Handler())
}

// Wrap adds the codec endpoint and the server spans to an API handler (one a
// test built from API and changed).
func (s Starter) Wrap(h http.Handler) http.Handler {
	if s.Codec != nil {
		h = codec.Mount(h, s.Codec.Handler(codec.ServerOptions{AdminToken: s.AdminToken, CORSOrigins: s.CodecCORSOrigins}))
	}
	return s.Tracing.Handler(h)
}

// RunStarter is the starter process: it serves the handler at HTTP_ADDR until
// ctx ends, then lets in-flight requests finish.
func RunStarter(ctx context.Context, cfg StarterConfig) error {
	if cfg.WebhookMaxBytes <= 0 {
		return errors.New("configuration: WEBHOOK_MAX_BYTES must be positive")
	}
	corsOrigins, err := codec.ParseOrigins(cfg.CodecCORSOrigin)
	if err != nil {
		return err
	}
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
	opts, err := ClientOptions(client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: tlog.NewStructuredLogger(p.Log),
		MetricsHandler: metrics.TemporalHandler(),
	}, p.Tracing, p.Codec)
	if err != nil {
		return err
	}
	// Lazy: the starter serves (webhooks go into the inbox) while Temporal is down.
	c, err := client.NewLazyClient(relay.ClientOptions(opts))
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer c.Close()
	// The webhook's account lookup is served from memory; the LISTEN connection
	// below drops it whenever pages or accounts change (store.WebhookCache).
	st := &store.Store{DB: db, Box: p.Box, Webhooks: store.NewWebhookCache(0)}
	metrics.WatchWebhookCache(st.Webhooks)
	// One LISTEN connection for every agent's event stream and the webhook cache.
	events := agentevents.Listen(cfg.DatabaseURL, agentevents.Options{Log: p.Log, Watchers: []agentevents.Watcher{st.Webhooks}})
	defer events.Close()
	// The inbox relay: hands committed webhook events to their conversation
	// workflows, now and after any outage; it stops before the database closes.
	inbox := relay.New(relay.Options{Store: st, Temporal: c, TaskQueue: cfg.TaskQueue, Log: p.Log, Metrics: metrics})
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); _ = inbox.Run(ctx) }()
	defer func() { <-relayDone }()

	handler := Starter{
		Server: api.Server{
			Store: st, Temporal: c, TaskQueue: cfg.TaskQueue, PublicBaseURL: cfg.PublicBaseURL,
			AdminToken: cfg.AdminToken, WebhookMaxBytes: cfg.WebhookMaxBytes, Log: p.Log, Metrics: metrics,
			Events: events, Relay: inbox, Graph: graph.New(cfg.GraphAPIURL, cfg.GraphAPIVersion, nil),
		},
		Codec: p.Codec, CodecCORSOrigins: corsOrigins, Tracing: p.Tracing,
	}.Handler()

	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           handler,
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
