package main

import (
	"log/slog"

	"go.temporal.io/sdk/log"
)

// slogAdapter gives the Temporal SDK our structured JSON logger.
func slogAdapter(l *slog.Logger) log.Logger { return log.NewStructuredLogger(l) }
