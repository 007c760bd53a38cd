package ops

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Mount adds /healthz, /readyz (over the given checks) and /metrics to a mux.
func Mount(mux *http.ServeMux, m *Metrics, checks ...Check) {
	mux.HandleFunc("GET /healthz", Healthz)
	mux.HandleFunc("GET /readyz", Readyz(checks...))
	mux.Handle("GET /metrics", m.Handler())
}

// Instrument counts every request next answers in fbchannel_http_requests_total,
// labelled with the ServeMux pattern that matched (so ids in paths do not make
// new series) and the status code. next is typically the *http.ServeMux itself.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	if m == nil || m.HTTPRequests == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &StatusWriter{ResponseWriter: w}
		defer func() {
			route := r.Pattern // set by the ServeMux on this same request
			if route == "" {
				route = "unmatched"
			}
			m.HTTPRequests.WithLabelValues(route, strconv.Itoa(sw.Status())).Inc()
		}()
		next.ServeHTTP(sw, r)
	})
}

// StatusWriter remembers the status code a handler answered and keeps streaming
// (SSE) working: wrap the handler's writer in it, then read Status.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// Status is the code the handler answered: the first one written, 200 when it
// wrote none (net/http sends 200 then).
func (w *StatusWriter) Status() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps w an http.Flusher, as the agent event stream requires.
func (w *StatusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Server is the worker's ops HTTP server: /healthz, /readyz and /metrics.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Handler is the worker's ops endpoints over its metrics and readiness checks.
func Handler(m *Metrics, checks ...Check) http.Handler {
	mux := http.NewServeMux()
	Mount(mux, m, checks...)
	return mux
}

// Listen binds addr now, so a taken port is reported before the worker starts.
func Listen(addr string, h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Server{ln: ln, srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}}, nil
}

// Addr is the address actually bound (useful with ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve() error {
	if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting and waits (up to ctx) for requests in flight.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
