// Command graphsim serves the Graph API simulator for local runs and
// end-to-end tests. Point GRAPH_API_URL at it and steer it through /_sim/.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"fbchannel/simulator"
)

func main() {
	addr := os.Getenv("SIM_ADDR")
	if addr == "" {
		addr = ":8090"
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           logRequests(simulator.New()),
		ReadHeaderTimeout: 10 * time.Second,
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	slog.Info("graphsim listening", "addr", addr)

	select {
	case err := <-errc:
		slog.Error("graphsim stopped", "err", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	// Webhook posts made through /_sim/ may take a while; let them finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		slog.Error("graphsim shutdown", "err", err)
		os.Exit(1)
	}
	slog.Info("graphsim stopped")
}

// logRequests logs one line per request. Only the path is logged: the query
// carries access tokens and app secrets.
func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		slog.Info("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start).Round(time.Microsecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}
