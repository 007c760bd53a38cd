package api

import (
	"bufio"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strings"
	"time"

	"fbchannel/store"
)

// Transcript export (issue 14): GET /conversations/{id}/transcript in three
// formats, and an account's conversations as an NDJSON stream. Both write as
// they read (store/export.go): a long transcript or a big account never sits in
// memory. Once the first byte is out the status cannot change, so a failure
// mid-stream aborts the connection: the client sees a cut stream, never a
// short one that looks complete.

// transcript answers one conversation as JSON (the default), plain text or a
// printable HTML page, notes marked internal. The admin, the conversation's
// agent and a supervisor of its queue may read it; anyone else gets 404. An
// erased customer's conversation is not exported (410).
func (s *Server) transcript(w http.ResponseWriter, r *http.Request, me *store.Agent) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "text" && format != "html" {
		writeError(w, http.StatusBadRequest, "invalid_request", "format must be json, text or html.")
		return
	}
	c, err := s.Store.ExportConversationByID(r.Context(), r.PathValue("id"))
	if err != nil && !errors.Is(err, store.ErrGone) {
		s.answerStoreError(w, r, err, "No conversation you may read has this id.")
		return
	}
	may, aerr := s.mayReadConversation(r, me, c.AgentID, c.QueueID)
	if s.answerHidden(w, r, may, aerr, "No conversation you may read has this id.") {
		return
	}
	if err != nil { // ErrGone, told only to those who may read it
		writeError(w, http.StatusGone, "customer_erased", "The customer's data was erased; its conversations are not exported.")
		return
	}

	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	buf := bufio.NewWriterSize(w, 32<<10)
	switch format {
	case "json":
		h.Set("Content-Type", "application/json")
		var stats store.ExportStats
		err = s.Store.WriteConversationJSON(r.Context(), buf, c, &stats)
		if err == nil {
			err = buf.WriteByte('\n')
		}
	case "text":
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Content-Disposition", `inline; filename="conversation-`+c.ID+`.txt"`)
		err = s.writeTranscriptText(r, buf, c)
	case "html":
		h.Set("Content-Type", "text/html; charset=utf-8")
		// Nothing on the page runs or loads: its only style is inline.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		err = s.writeTranscriptHTML(r, buf, c)
	}
	if err == nil {
		err = buf.Flush()
	}
	if err != nil {
		s.abortStream(r, err)
	}
}

// abortStream ends a response whose status is already sent: logged, and the
// connection is cut so the client cannot take a partial export for a whole one.
func (s *Server) abortStream(r *http.Request, err error) {
	if r.Context().Err() == nil {
		s.Log.ErrorContext(r.Context(), "export failed mid-stream", "path", r.URL.Path, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// senderLabel names who wrote a message, for people.
func senderLabel(c store.ExportConversation, m store.ExportMessage) string {
	switch m.Sender {
	case "customer":
		if c.Customer.Name != "" {
			return c.Customer.Name
		}
		return "Customer"
	case "agent":
		if m.AgentName != "" {
			return m.AgentName
		}
		return "Agent"
	case "bot":
		return "Bot"
	case "system":
		return "Automated"
	case "page":
		return "Page"
	}
	if m.AgentName != "" {
		return m.AgentName
	}
	return m.Sender
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func (s *Server) writeTranscriptText(r *http.Request, w io.Writer, c store.ExportConversation) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Conversation %s\n", c.ID)
	fmt.Fprintf(&b, "Customer: %s (PSID %s)\n", c.Customer.Name, c.Customer.PSID)
	fmt.Fprintf(&b, "Page: %s\n", c.PageID)
	if c.AgentName != "" {
		fmt.Fprintf(&b, "Agent: %s\n", c.AgentName)
	}
	if c.QueueName != "" {
		fmt.Fprintf(&b, "Queue: %s\n", c.QueueName)
	}
	fmt.Fprintf(&b, "Status: %s\nOpened: %s\n", c.Status, formatTime(c.OpenedAt))
	if c.ClosedAt != nil {
		fmt.Fprintf(&b, "Closed: %s", formatTime(*c.ClosedAt))
		if c.CloseReason != "" {
			fmt.Fprintf(&b, " (%s)", c.CloseReason)
		}
		b.WriteString("\n")
	}
	if c.Disposition != "" {
		fmt.Fprintf(&b, "Disposition: %s\n", c.Disposition)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	return s.Store.EachExportMessage(r.Context(), c.ID, func(m store.ExportMessage) error {
		var b strings.Builder
		label := senderLabel(c, m)
		if m.Internal {
			label = "[INTERNAL " + strings.ToUpper(m.Kind) + "] " + label
		}
		fmt.Fprintf(&b, "[%s] %s:", formatTime(m.CreatedAt), label)
		if m.Text != "" {
			// Continuation lines are indented so every line of the file stays readable.
			b.WriteString(" " + strings.ReplaceAll(m.Text, "\n", "\n    "))
		}
		for _, a := range m.Attachments {
			fmt.Fprintf(&b, "\n    Attachment (%s): %s", a.Type, a.URL)
		}
		if m.Text == "" && len(m.Attachments) == 0 {
			fmt.Fprintf(&b, " (%s, no text)", m.Kind)
		}
		b.WriteString("\n")
		_, err := io.WriteString(w, b.String())
		return err
	})
}

var transcriptHTML = template.Must(template.New("transcript").Funcs(template.FuncMap{"time": formatTime}).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Conversation with {{.Customer.Name}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:46rem;color:#111}
h1{font-size:1.3rem;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 1.5rem}
dt{color:#555}dd{margin:0}
.msg{border-left:3px solid #bbb;padding:.3rem .7rem;margin:.5rem 0;page-break-inside:avoid}
.msg.customer{border-color:#2563eb}.msg.agent{border-color:#16a34a}
.msg.internal{background:#fff8db;border-color:#d97706}
.meta{color:#555;font-size:12px}.badge{font-weight:600;color:#92400e;text-transform:uppercase;font-size:11px}
.text{white-space:pre-wrap;margin:.15rem 0}
@media print{body{margin:0;max-width:none}a{color:inherit}}
</style></head><body>
<h1>Conversation with {{.Customer.Name}}</h1>
<dl>
<dt>Conversation</dt><dd>{{.ID}}</dd>
<dt>Customer</dt><dd>{{.Customer.Name}} (PSID {{.Customer.PSID}})</dd>
<dt>Page</dt><dd>{{.PageID}}</dd>
{{if .AgentName}}<dt>Agent</dt><dd>{{.AgentName}}</dd>{{end}}
{{if .QueueName}}<dt>Queue</dt><dd>{{.QueueName}}</dd>{{end}}
<dt>Status</dt><dd>{{.Status}}</dd>
<dt>Opened</dt><dd>{{time .OpenedAt}}</dd>
{{if .ClosedAt}}<dt>Closed</dt><dd>{{time .ClosedAt}}{{if .CloseReason}} ({{.CloseReason}}){{end}}</dd>{{end}}
{{if .Disposition}}<dt>Disposition</dt><dd>{{.Disposition}}</dd>{{end}}
</dl>
<main>
{{end}}
{{define "msg"}}<div class="msg {{.Message.Sender}}{{if .Message.Internal}} internal{{end}}" id="m-{{.Message.ID}}">
<div class="meta">{{if .Message.Internal}}<span class="badge">Internal {{.Message.Kind}}</span> · {{end}}<strong>{{.Label}}</strong> · <time datetime="{{time .Message.CreatedAt}}">{{time .Message.CreatedAt}}</time>{{if not .Message.Internal}} · {{.Message.Kind}}{{end}}</div>
{{if .Message.Text}}<p class="text">{{.Message.Text}}</p>{{end}}
{{range .Message.Attachments}}<p class="text">Attachment ({{.Type}}): <a href="{{.URL}}">{{.URL}}</a></p>{{end}}
</div>
{{end}}
{{define "foot"}}</main></body></html>
{{end}}`))

func (s *Server) writeTranscriptHTML(r *http.Request, w io.Writer, c store.ExportConversation) error {
	if err := transcriptHTML.ExecuteTemplate(w, "head", c); err != nil {
		return err
	}
	err := s.Store.EachExportMessage(r.Context(), c.ID, func(m store.ExportMessage) error {
		return transcriptHTML.ExecuteTemplate(w, "msg", struct {
			Message store.ExportMessage
			Label   string
		}{m, senderLabel(c, m)})
	})
	if err != nil {
		return err
	}
	return transcriptHTML.ExecuteTemplate(w, "foot", nil)
}

// exportAccount streams every conversation of an account opened in [from, to)
// as NDJSON, one conversation with its messages per line, oldest first. from
// defaults to the beginning, to to now; erased customers are left out.
func (s *Server) exportAccount(w http.ResponseWriter, r *http.Request) {
	accountID := r.PathValue("id")
	from, to := time.Unix(0, 0).UTC(), time.Now().UTC()
	for name, dst := range map[string]*time.Time{"from": &from, "to": &to} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "invalid_request", name+" must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z.")
				return
			}
			*dst = t
		}
	}
	if !from.Before(to) {
		writeError(w, http.StatusBadRequest, "invalid_request", "from must be before to.")
		return
	}
	exists, err := s.Store.AccountExists(r.Context(), accountID)
	if s.answerHidden(w, r, exists, err, "No account has this id.") {
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-ndjson")
	h.Set("Content-Disposition", `attachment; filename="export-`+accountID+`.ndjson"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	flush := func() { _ = rc.Flush() }
	flush()
	if _, err := s.Store.WriteAccountExport(r.Context(), w, flush, accountID, from, to); err != nil {
		s.abortStream(r, err)
	}
}
