package measure

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"go.temporal.io/sdk/log"
)

// Run is the end of a benchmark's main, after its flags: it runs run until SIGINT
// or SIGTERM and exits non-zero with one line, prefixed by name, on an error.
func Run(name string, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// QuietLogger drops the SDK's log and counts its warnings and errors, which the
// report shows: a bench that logged errors measured something else.
type QuietLogger struct{ Warnings, Errors atomic.Int64 }

func (l *QuietLogger) Debug(string, ...any) {}
func (l *QuietLogger) Info(string, ...any)  {}
func (l *QuietLogger) Warn(string, ...any)  { l.Warnings.Add(1) }
func (l *QuietLogger) Error(string, ...any) { l.Errors.Add(1) }

var _ log.Logger = (*QuietLogger)(nil)
