package desk

import (
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// With no build step nothing else notices a module that imports a file that is
// not there, or a page that preloads a module it no longer uses.

var (
	importFrom = regexp.MustCompile(`(?m)^(?:import|export) (?:[^;]*? from )?"\./([^"]+)";`)
	moduleTag  = regexp.MustCompile(`<script type="module" src="/desk/assets/([^"]+)"></script>`)
	preload    = regexp.MustCompile(`<link rel="modulepreload" href="/desk/assets/([^"]+)">`)
)

// modulesOf lists the modules an entry module loads, itself included, sorted.
func modulesOf(t *testing.T, entry string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if seen[name] {
			return
		}
		a, ok := assets[name]
		if !ok {
			t.Fatalf("module %s is not among the assets", name)
		}
		seen[name] = true
		for _, m := range importFrom.FindAllStringSubmatch(string(a.body), -1) {
			walk(m[1])
		}
	}
	walk(entry)
	var out []string
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func TestPagesLoadModulesThatExistAndPreloadExactlyThose(t *testing.T) {
	for _, page := range []string{"desk.html", "admin.html", "reports.html"} {
		html := string(assets[page].body)
		entries := moduleTag.FindAllStringSubmatch(html, -1)
		if len(entries) != 1 {
			t.Fatalf("%s: %d module scripts, want one entry module", page, len(entries))
		}
		if strings.Contains(html, "<script src=") {
			t.Errorf("%s: a classic script next to the module", page)
		}
		loaded := modulesOf(t, entries[0][1])
		var preloaded []string
		for _, m := range preload.FindAllStringSubmatch(html, -1) {
			preloaded = append(preloaded, m[1])
		}
		preloaded = append(preloaded, entries[0][1]) // the entry loads at once
		slices.Sort(preloaded)
		if !slices.Equal(preloaded, loaded) {
			t.Errorf("%s preloads %v, but its entry module loads %v", page, preloaded, loaded)
		}
	}
}

func TestEveryScriptIsAModuleServedAsJavaScript(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	for name, a := range assets {
		if path.Ext(name) != ".js" {
			continue
		}
		// Vendored files are kept as their authors built them.
		if !strings.HasPrefix(name, "vendor/") && strings.Contains(string(a.body), `"use strict"`) {
			t.Errorf("%s: modules are strict already", name)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/desk/assets/"+name, nil))
		// Browsers refuse a module served with any other type (nosniff is on).
		if ct := rec.Header().Get("Content-Type"); rec.Code != 200 || !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("%s: %d %q", name, rec.Code, ct)
		}
	}
}
