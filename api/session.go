package api

// Browser sessions for the agent desk (/desk).
//
// Signing in (POST /desk/session {"token"}) checks the agent token and puts the
// token itself in an HttpOnly, SameSite=Strict cookie (Secure when the request or
// PUBLIC_BASE_URL is HTTPS). The token is already the agent's credential and is
// looked up by its hash on every request, so the cookie needs no server-side
// session state: any replica of the starter accepts it, and signing in adds no
// secret that is not already there. HttpOnly keeps it out of reach of page
// scripts, so it cannot be read by injected JavaScript; the desk never renders
// customer text as HTML, and the pages are served with a script-src 'self' CSP.
//
// Cookies are sent by the browser on its own, so a state-changing request
// authenticated by the cookie must also prove it comes from the desk page:
// signing in sets a second, script-readable cookie fbc_csrf, and such requests
// must echo it in the X-CSRF-Token header (double submit). The value is a nonce
// with an HMAC keyed by the session's token, so a cookie planted by a sibling
// subdomain cannot pass for this session's. Cross-origin browser requests are
// also refused up front (Sec-Fetch-Site / Origin). Requests with a bearer token
// are not ambient and need none of this.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"fbchannel/store"
)

const (
	// SessionCookie holds the agent token of a desk session (HttpOnly).
	SessionCookie = "fbc_session"
	// CSRFCookie holds the desk's anti-CSRF token; the page echoes it in CSRFHeader.
	CSRFCookie = "fbc_csrf"
	// CSRFHeader must equal CSRFCookie on cookie-authenticated unsafe requests.
	CSRFHeader = "X-CSRF-Token"
	// sessionMaxAge bounds how long a browser keeps a desk session: about a shift.
	sessionMaxAge = 12 * time.Hour
)

var crossOrigin = http.NewCrossOriginProtection()

// secureCookies says whether cookies must be marked Secure: the request came over
// TLS, or the service is published over HTTPS (TLS ends at a proxy in front).
func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(strings.ToLower(s.PublicBaseURL), "https://")
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, httpOnly bool, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: httpOnly, Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode,
	})
}

// csrfToken derives a fresh anti-CSRF token bound to the session's agent token.
func csrfToken(sessionToken string) string {
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	n := base64.RawURLEncoding.EncodeToString(nonce)
	return n + "." + csrfMAC(sessionToken, n)
}

func csrfMAC(sessionToken, nonce string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("fbc-csrf:" + nonce))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validCSRF checks the double submit: header equal to cookie, and minted for this session.
func validCSRF(r *http.Request, sessionToken string) bool {
	header := r.Header.Get(CSRFHeader)
	c, err := r.Cookie(CSRFCookie)
	if err != nil || header == "" || subtle.ConstantTimeCompare([]byte(header), []byte(c.Value)) != 1 {
		return false
	}
	nonce, mac, ok := strings.Cut(header, ".")
	return ok && nonce != "" && hmac.Equal([]byte(mac), []byte(csrfMAC(sessionToken, nonce)))
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// sessionAgent authenticates a request that carries no bearer token by its desk
// session cookie. It answers 401 itself when there is no valid session, and 403
// when an unsafe request lacks the anti-CSRF proof.
func (s *Server) sessionAgent(w http.ResponseWriter, r *http.Request) (store.Agent, bool) {
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "A valid agent bearer token is required.")
		return store.Agent{}, false
	}
	a, err := s.Store.AgentByToken(r.Context(), c.Value)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Your desk session is no longer valid; sign in again.")
		return a, false
	}
	if err != nil {
		s.internalError(w, r, err)
		return a, false
	}
	if !safeMethod(r.Method) {
		if crossOrigin.Check(r) != nil {
			writeError(w, http.StatusForbidden, "csrf_failed", "Cross-origin requests are not accepted with a desk session.")
			return a, false
		}
		if !validCSRF(r, c.Value) {
			writeError(w, http.StatusForbidden, "csrf_failed", "The "+CSRFHeader+" header must match the "+CSRFCookie+" cookie; reload the desk.")
			return a, false
		}
	}
	return a, true
}

// createSession signs an agent in: POST /desk/session {"token"}.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// JSON only: a cross-site HTML form cannot send it, so nobody can be signed
	// in to someone else's desk by a foreign page (login CSRF).
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the token as JSON: {\"token\": \"...\"}.")
		return
	}
	if crossOrigin.Check(r) != nil {
		writeError(w, http.StatusForbidden, "csrf_failed", "Sign in from the desk page itself.")
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if !decode(w, r, &in) {
		return
	}
	token := strings.TrimSpace(in.Token)
	if token == "" {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Enter your agent token.")
		return
	}
	a, ok := s.agentByToken(w, r, token, "This agent token is not valid. Ask your administrator for a new one.")
	if !ok {
		return
	}
	maxAge := int(sessionMaxAge / time.Second)
	s.setCookie(w, r, SessionCookie, token, true, maxAge)
	s.setCookie(w, r, CSRFCookie, csrfToken(token), false, maxAge)
	writeJSON(w, http.StatusOK, map[string]any{"agent": a})
}

// getSession answers who is signed in (GET /desk/session), through agent().
func (s *Server) getSession(w http.ResponseWriter, r *http.Request, me store.Agent) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{"agent": me})
}

// deleteSession signs out: DELETE /desk/session clears both cookies. It needs no
// proof: a cross-site DELETE is impossible without CORS, and signing out is harmless.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	s.setCookie(w, r, SessionCookie, "", true, -1)
	s.setCookie(w, r, CSRFCookie, "", false, -1)
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed_out"})
}
