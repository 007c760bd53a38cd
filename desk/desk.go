// Package desk serves the browser front ends of the starter: the agent desk
// (/desk) and the admin console (/admin). They are plain HTML, CSS and JavaScript
// (native ES modules, one file each, loaded as they are) embedded in the binary:
// no build step, no framework, no third-party requests. The pages share their
// head (assets/head.tmpl), filled in once when the binary starts.
// They talk only to the JSON API of CONTRACT.md (and /desk/session, in package api).
package desk

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed assets
var files embed.FS

// contentSecurityPolicy allows only this origin's scripts, styles and API, and
// pictures from anywhere (customers' profile pictures live on Facebook's CDN).
// Nothing the pages show is ever parsed as HTML, and the CSP is the second wall.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data: https: http:; font-src 'self'; media-src 'none'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	etag        string
	contentType string
}

var assets = func() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(files, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) == ".tmpl" {
			return err
		}
		var b []byte
		if path.Ext(p) == ".html" {
			b, err = renderPage(p)
		} else {
			b, err = files.ReadFile(p)
		}
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		m[strings.TrimPrefix(p, "assets/")] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: ct}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return m
}()

// renderPage is a page as served: its template executed once, at start, with
// the head every page shares (assets/head.tmpl), so the page is still a
// static file with one ETag.
func renderPage(name string) ([]byte, error) {
	t, err := template.ParseFS(files, "assets/head.tmpl", name)
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	err = t.ExecuteTemplate(&page, path.Base(name), nil)
	return page.Bytes(), err
}

// Register adds the desk's routes: GET /desk, GET /admin, GET /supervisor,
// GET /supervisor/reports, GET /desk/assets/{file} and GET /desk/assets/vendor/{file}.
func Register(mux *http.ServeMux) {
	mux.Handle("GET /desk", serve("desk.html"))
	mux.Handle("GET /admin", serve("admin.html"))
	mux.Handle("GET /supervisor", serve("supervisor.html"))
	mux.Handle("GET /supervisor/reports", serve("reports.html"))
	mux.Handle("GET /desk/{$}", http.RedirectHandler("/desk", http.StatusMovedPermanently))
	mux.Handle("GET /admin/{$}", http.RedirectHandler("/admin", http.StatusMovedPermanently))
	mux.HandleFunc("GET /desk/assets/{file}", func(w http.ResponseWriter, r *http.Request) {
		serve(r.PathValue("file")).ServeHTTP(w, r)
	})
	// Third-party files, vendored unchanged with their licenses (README "Libraries").
	mux.HandleFunc("GET /desk/assets/vendor/{file}", func(w http.ResponseWriter, r *http.Request) {
		serve("vendor/"+r.PathValue("file")).ServeHTTP(w, r)
	})
}

func serve(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[name]
		if !ok || strings.HasSuffix(name, ".html") && r.URL.Path != "/desk" && r.URL.Path != "/admin" && r.URL.Path != "/supervisor" && r.URL.Path != "/supervisor/reports" {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		// Revalidate every time: a new deployment is picked up at once, and an
		// unchanged file costs a 304.
		h.Set("Cache-Control", "no-cache")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
