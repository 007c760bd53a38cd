// Command starter is the channel's HTTP server: Facebook webhooks, the admin API
// and the agent API (app.RunStarter). It starts, signals and updates workflows;
// the worker runs them.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"fbchannel/app"
	"fbchannel/config"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg app.StarterConfig
	if err := config.Parse(&cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.RunStarter(ctx, cfg)
}
