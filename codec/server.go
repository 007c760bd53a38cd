package codec

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.temporal.io/sdk/converter"
)

// Prefix is where the starter serves the codec endpoint: the Temporal UI's and
// CLI's "codec endpoint" is {PUBLIC_BASE_URL}/codec, to which they add /decode
// (and /encode).
const Prefix = "/codec"

// DefaultMaxBytes bounds one request: Temporal refuses payloads above 2 MiB,
// and the UI sends one event's payloads at a time.
const DefaultMaxBytes = 16 << 20

// ServerOptions configure the codec endpoint.
type ServerOptions struct {
	// AdminToken is required as "Authorization: Bearer <token>" on every
	// POST: decoding is reading customers' data.
	AdminToken string
	// CORSOrigins are the browser origins (e.g. the Temporal UI's,
	// http://localhost:8233) allowed to call the endpoint from a page, with
	// credentials. Empty: no CORS headers, so only non-browser callers (the
	// CLI) can use it.
	CORSOrigins []string
	// MaxBytes bounds a request body; 0 means DefaultMaxBytes.
	MaxBytes int64
}

// Handler serves POST /codec/encode and POST /codec/decode in the remote codec
// protocol (a JSON commonpb.Payloads in, the same out; converter.NewPayloadCodecHTTPHandler),
// and answers CORS preflights for the configured origins.
func (c *Codec) Handler(opts ServerOptions) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(c)
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		allowed := origin != "" && slices.Contains(opts.CORSOrigins, origin)
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		if r.URL.Path != Prefix+"/encode" && r.URL.Path != Prefix+"/decode" {
			writeError(w, http.StatusNotFound, "not_found", "The codec endpoint is "+Prefix+"/encode and "+Prefix+"/decode.")
			return
		}
		switch r.Method {
		case http.MethodOptions:
			// A preflight carries no credentials: answer it before authenticating.
			if !allowed {
				writeError(w, http.StatusForbidden, "forbidden", "This origin is not allowed (CODEC_CORS_ORIGIN).")
				return
			}
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "POST, OPTIONS")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use POST.")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || opts.AdminToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(opts.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized", "A valid admin bearer token is required.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
		inner.ServeHTTP(w, r)
	})
}

// Mount routes /codec/... to codecHandler and everything else to next.
func Mount(next, codecHandler http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix || strings.HasPrefix(r.URL.Path, Prefix+"/") {
			codecHandler.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ParseOrigins reads CODEC_CORS_ORIGIN: comma-separated origins such as
// http://localhost:8233. "*" is refused: the endpoint takes credentials.
func ParseOrigins(s string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o = strings.TrimSpace(o); o == "" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("configuration: CODEC_CORS_ORIGIN must be origins such as http://localhost:8233, not %q", o)
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	return out, nil
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
