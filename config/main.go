package config

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main is the whole main of the worker and the starter: it parses the
// environment into the process's configuration C, runs run until SIGINT or
// SIGTERM, and exits non-zero with one line, prefixed by name, on any error.
func Main[C any](name string, run func(context.Context, C) error) {
	if err := parseAndRun(run); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func parseAndRun[C any](run func(context.Context, C) error) error {
	var cfg C
	if err := Parse(&cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, cfg)
}
