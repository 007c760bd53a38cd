// Package measure is what the benchmarks (and the soak) share to measure and
// report: nearest-rank percentiles, millisecond formatting, a cancellable sleep
// and progress lines, and the flags, main and SDK log counter of a bench. The
// channel they measure is app/apptest's Stack, started by StartChannel; a bench
// of queries alone seeds a Scratch database.
package measure

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"time"
)

// Progress prints a timestamped line on stderr; the report itself goes to stdout.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Percentile is the nearest-rank percentile p (0..1) of the durations; they are
// sorted first when they are not already.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if !slices.IsSorted(sorted) {
		sorted = slices.Clone(sorted)
		slices.Sort(sorted)
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Millis formats a duration in milliseconds with one decimal, as the reports show them.
func Millis(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// Sleep waits d, or less when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
