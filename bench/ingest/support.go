package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// tally counts log messages by text and keeps the first example of each.
type tally struct {
	mu       sync.Mutex
	counts   map[string]int
	examples map[string]string
}

func newTally() tally { return tally{counts: map[string]int{}, examples: map[string]string{}} }

func (t *tally) add(key, example string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts[key] == 0 {
		if len(example) > 400 {
			example = example[:400] + "…"
		}
		t.examples[key] = example
	}
	t.counts[key]++
}

func (t *tally) total() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, v := range t.counts {
		n += v
	}
	return n
}

func (t *tally) summary(out io.Writer, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.counts[keys[i]] > t.counts[keys[j]] })
	for _, k := range keys {
		fmt.Fprintf(out, "- %s ×%d: %s — e.g. `%s`\n", what, t.counts[k], k, strings.ReplaceAll(t.examples[k], "`", "'"))
	}
}

// countingLogger is the SDK's logger: debug and info are dropped, warnings and
// errors are counted (and summarised in the report), never printed as they come.
type countingLogger struct{ tally }

func newCountingLogger() *countingLogger { return &countingLogger{newTally()} }

func (l *countingLogger) Debug(string, ...any) {}
func (l *countingLogger) Info(string, ...any)  {}
func (l *countingLogger) Warn(msg string, kv ...any) {
	l.add("WARN "+msg, kvString(kv))
}
func (l *countingLogger) Error(msg string, kv ...any) {
	l.add("ERROR "+msg, kvString(kv))
}

func kvString(kv []any) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%v=%v", kv[i], kv[i+1])
	}
	return b.String()
}

// countingHandler is the starter's slog handler: warnings and errors are counted.
type countingHandler struct {
	*tally
	attrs []slog.Attr
}

func newCountingHandler() *countingHandler {
	t := newTally()
	return &countingHandler{tally: &t}
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	for _, a := range h.attrs {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "%s=%v ", a.Key, a.Value)
		return true
	})
	h.add(r.Level.String()+" "+r.Message, strings.TrimSpace(b.String()))
	return nil
}
func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{tally: h.tally, attrs: append(append([]slog.Attr{}, h.attrs...), as...)}
}
func (h *countingHandler) WithGroup(string) slog.Handler { return h }

// lineCounter takes the dev server's output (error level): counted, first lines kept.
type lineCounter struct {
	mu    sync.Mutex
	lines int
	first []string
	buf   []byte
}

func (c *lineCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	for {
		i := bytes.IndexByte(c.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(c.buf[:i]))
		c.buf = c.buf[i+1:]
		if line == "" {
			continue
		}
		c.lines++
		if len(c.first) < 5 {
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			c.first = append(c.first, line)
		}
	}
	return len(p), nil
}

func (c *lineCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

func (c *lineCounter) summary(out io.Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.first {
		fmt.Fprintf(out, "- dev server: `%s`\n", strings.ReplaceAll(l, "`", "'"))
	}
}

func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
