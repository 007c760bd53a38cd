// Command worker runs the Temporal worker of the Facebook channel: it applies the
// database migrations, registers the search attributes, and runs every workflow
// and activity (app.RunWorker).
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
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg app.WorkerConfig
	if err := config.Parse(&cfg); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.RunWorker(ctx, cfg)
}
