package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DefaultCLI is the Temporal CLI a benchmark starts its dev server from: env
// TEMPORAL_CLI, else ./bin/temporal (make tools builds it).
func DefaultCLI() string {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p
	}
	p, _ := filepath.Abs("bin/temporal")
	return p
}

// DefaultDatabaseURL is the Postgres a benchmark creates its database next to.
func DefaultDatabaseURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/fbchannel?sslmode=disable"
}

// Progress prints a timestamped line on stderr; the report itself goes to stdout.
func Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
