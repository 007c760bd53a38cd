// Package config is what the worker and the starter both read from the
// environment, and how both begin: the secrets box, the payload codec, the JSON
// logger and tracing.
package config

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/caarlos0/env/v11"

	"fbchannel/codec"
	"fbchannel/secrets"
	"fbchannel/tracing"
)

// Shared holds the variables of both processes. Each process embeds it in its
// own struct and reads that with Parse.
type Shared struct {
	DatabaseURL       string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"`
	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TaskQueue         string `env:"TEMPORAL_TASK_QUEUE" envDefault:"facebook-channel"`
	SecretsKey        string `env:"SECRETS_KEY,required,notEmpty"`
	// The Graph API (or the simulator): the worker sends messages, the starter
	// the best-effort sender actions (typing, seen, reactions; api/senderactions.go).
	GraphAPIURL     string `env:"GRAPH_API_URL" envDefault:"https://graph.facebook.com"`
	GraphAPIVersion string `env:"GRAPH_API_VERSION" envDefault:"v23.0"`
	// Tracing (off unless an endpoint is set) and payload encryption (off unless
	// a key is set) extend CONTRACT.md; see README "Operations".
	OTLPEndpoint       string `env:"OTEL_EXPORTER_OTLP_ENDPOINT"`
	OTLPTracesEndpoint string `env:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"`
	OTelSDKDisabled    bool   `env:"OTEL_SDK_DISABLED"`
	PayloadKey         string `env:"PAYLOAD_ENCRYPTION_KEY"`
	PayloadOldKeys     string `env:"PAYLOAD_ENCRYPTION_OLD_KEYS"`
}

// Parse reads the environment into cfg, a pointer to a process's configuration
// struct (which embeds Shared).
func Parse(cfg any) error {
	if err := env.Parse(cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	return nil
}

// Process is what a process begins with.
type Process struct {
	Log *slog.Logger
	Box *secrets.Box
	// Codec encrypts workflow payloads; nil when PAYLOAD_ENCRYPTION_KEY is not set.
	Codec   *codec.Codec
	Tracing *tracing.Tracing

	stop func()
}

// Start opens the secrets box and the payload codec, makes the JSON logger (with
// trace ids) the default, and starts tracing as service (tracing.StarterService
// or tracing.WorkerService). Defer Stop: it exports the process's last spans.
func (s Shared) Start(ctx context.Context, service string) (*Process, error) {
	box, err := secrets.NewBox(s.SecretsKey)
	if err != nil {
		return nil, err
	}
	payloadCodec, err := codec.Parse(s.PayloadKey, s.PayloadOldKeys)
	if err != nil {
		return nil, err
	}
	logger := slog.New(tracing.LogHandler(slog.NewJSONHandler(os.Stderr, nil)))
	slog.SetDefault(logger)
	tr, stop, err := tracing.StartProcess(ctx, tracing.Config{ServiceName: service,
		Endpoint: s.OTLPEndpoint, TracesEndpoint: s.OTLPTracesEndpoint, Disabled: s.OTelSDKDisabled}, logger)
	if err != nil {
		return nil, err
	}
	return &Process{Log: logger, Box: box, Codec: payloadCodec, Tracing: tr, stop: stop}, nil
}

// Stop exports the spans that are left, within five seconds.
func (p *Process) Stop() { p.stop() }
