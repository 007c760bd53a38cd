package supervise

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync/atomic"
	"time"
)

// Proxy is the one address customers and agents use when several starters run
// (the soak, the e2e tests' process mode), as a load balancer would be in
// production: requests go round robin, and a request whose connection is refused
// (that starter is down) goes to the next one. A request a starter accepted and
// then died on is not replayed: the customer or agent sees the failure and
// retries, as it would behind a real balancer.
type Proxy struct {
	srv *http.Server
}

// StartProxy serves ProxyHandler(backends) at addr until Close.
func StartProxy(addr string, backends []string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{srv: &http.Server{Handler: ProxyHandler(backends), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// ProxyHandler forwards each request to the backends (host:port) round robin,
// failing over to the next while a connection is refused.
func ProxyHandler(backends []string) http.Handler {
	rt := &failoverTransport{backends: backends, next: http.DefaultTransport.(*http.Transport).Clone()}
	return &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.Out.URL.Scheme = "http"; r.Out.Host = r.In.Host },
		Transport:     rt,
		FlushInterval: -1, // event streams (SSE) pass through at once
		// Streams and requests cut by a starter kill are expected; the clients count
		// what they see (a 502 or a broken stream).
		ErrorLog: log.New(io.Discard, "", 0),
	}
}

// Close stops the proxy.
func (p *Proxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
}

type failoverTransport struct {
	backends []string
	rr       atomic.Uint64
	next     http.RoundTripper
}

func (t *failoverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	start := int(t.rr.Add(1))
	var lastErr error
	for i := range t.backends {
		out := req.Clone(req.Context())
		out.URL.Host = t.backends[(start+i)%len(t.backends)]
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		resp, err := t.next.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" {
			return nil, err // the request may have reached the starter: not replayed
		}
	}
	return nil, lastErr
}
