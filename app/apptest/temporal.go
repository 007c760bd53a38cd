// Package apptest runs the whole channel inside one process, for the e2e tests,
// the benchmarks and the history recorder: a Temporal dev server (StartTemporal),
// a Postgres database of its own, the Graph API simulator, the worker and the
// starter built by package app (Stack). Production binaries must not import it.
package apptest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"fbchannel/app"
)

// Namespace is the dev server's namespace the stacks use.
const Namespace = "default"

// TemporalCLI is the Temporal CLI a dev server is started from: env
// TEMPORAL_CLI, else bin/temporal of the module (make tools builds it).
func TemporalCLI() string {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p
	}
	return filepath.Join(ModuleBin(), "temporal")
}

// ModuleBin is the module's ./bin, found from the working directory upwards
// (relative "bin" when there is no go.mod above it).
func ModuleBin() string {
	dir, err := os.Getwd()
	if err != nil {
		return "bin"
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "bin"
		}
		dir = parent
	}
}

// Temporal says how StartTemporal starts the dev server.
type Temporal struct {
	// CLI is the Temporal CLI's path; default TemporalCLI().
	CLI string
	// Logger is the log of the server's client (nil: the SDK's default).
	Logger log.Logger
	// Output receives the server's stdout and stderr (nil: the SDK's default).
	Output io.Writer
	// ExtraArgs pass on to `temporal server start-dev` (e.g. dynamic config).
	ExtraArgs []string
}

// StartTemporal starts a Temporal dev server (in memory, on free ports) and
// registers the channel's search attributes. Stop it at the end.
func StartTemporal(ctx context.Context, t Temporal) (*testsuite.DevServer, error) {
	if t.CLI == "" {
		t.CLI = TemporalCLI()
	}
	if _, err := os.Stat(t.CLI); err != nil {
		return nil, fmt.Errorf("the Temporal CLI is missing at %s (make tools builds it; env TEMPORAL_CLI names another): %w", t.CLI, err)
	}
	server, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  t.CLI,
		ClientOptions: &client.Options{Namespace: Namespace, Logger: t.Logger},
		LogLevel:      "error",
		Stdout:        t.Output,
		Stderr:        t.Output,
		ExtraArgs:     append(append([]string{}, app.DevServerArgs...), t.ExtraArgs...),
	})
	if err != nil {
		return nil, fmt.Errorf("start the Temporal dev server: %w", err)
	}
	if err := app.EnsureSearchAttributes(ctx, server.Client(), Namespace); err != nil {
		_ = server.Stop()
		return nil, err
	}
	return server, nil
}

// RandomHex is n random bytes in hex, for names that must not collide.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
