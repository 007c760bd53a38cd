package simulator

import (
	"net/http"
	"slices"
	"strconv"
	"time"
)

// The Conversations API: a page's past Messenger threads and their messages,
// seeded by a test with SetHistory, served newest first with cursor paging and
// Facebook's limit of 2 calls per second per page.

// HistoryThread is one past Messenger thread of a page with a customer.
type HistoryThread struct {
	ID           string           `json:"id"` // t_...
	PSID         string           `json:"psid"`
	CustomerName string           `json:"customer_name"`
	Messages     []HistoryMessage `json:"messages"` // any order
}

// HistoryMessage is one past message; FromPage marks the page's own.
type HistoryMessage struct {
	MID          string    `json:"mid"`
	At           time.Time `json:"at"`
	FromPage     bool      `json:"from_page"`
	Text         string    `json:"text"`
	ImageURL     string    `json:"image_url,omitempty"`
	FileURL      string    `json:"file_url,omitempty"`
	FileName     string    `json:"file_name,omitempty"`
	FileMimeType string    `json:"file_mime_type,omitempty"`
}

// historyRate is the Conversations API's limit per page.
const historyRate = 2

type historyState struct {
	// unlimited turns the rate limit off, for tests whose timers are skipped
	// (the Temporal test environment) while the simulator keeps real time.
	unlimited bool
	threads   map[string][]HistoryThread // page id -> threads
	calls     map[string][]time.Time     // page id -> recent calls, for the rate limit
}

// SetHistory replaces the page's past threads.
func (s *Simulator) SetHistory(pageID string, threads []HistoryThread) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.history.threads == nil {
		s.history.threads = map[string][]HistoryThread{}
		s.history.calls = map[string][]time.Time{}
	}
	s.history.threads[pageID] = slices.Clone(threads)
}

// SetHistoryRateLimit turns the Conversations API's limit of 2 calls per
// second per page on (the default) or off.
func (s *Simulator) SetHistoryRateLimit(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history.unlimited = !on
}

// rateLimited counts a call on the page's Conversations API and says whether it
// is over Facebook's limit (error 613). Called with s.mu held.
func (s *Simulator) rateLimited(pageID string) *apiError {
	if s.history.calls == nil {
		s.history.calls = map[string][]time.Time{}
	}
	if s.history.unlimited {
		return nil
	}
	now := time.Now()
	recent := slices.DeleteFunc(s.history.calls[pageID], func(t time.Time) bool { return now.Sub(t) >= time.Second })
	if len(recent) >= historyRate {
		s.history.calls[pageID] = recent
		return &apiError{http.StatusBadRequest, 613, 0, "OAuthException", "(#613) Calls to this api have exceeded the rate limit."}
	}
	s.history.calls[pageID] = append(recent, now)
	return nil
}

func lastAt(t HistoryThread) time.Time {
	var last time.Time
	for _, m := range t.Messages {
		if m.At.After(last) {
			last = m.At
		}
	}
	return last
}

func fbTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05-0700") }

// pageOf answers items[after:after+limit] with Facebook's paging object.
func pageOf[T any](g *graphRequest, items []T) (map[string]any, *apiError) {
	limit := 25
	if v := g.param("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, invalidParam("limit must be a positive integer")
		}
		limit = min(n, 100)
	}
	start := 0
	if v := g.param("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > len(items) {
			return nil, invalidParam("Invalid cursor")
		}
		start = n
	}
	end := min(start+limit, len(items))
	out := map[string]any{"data": items[start:end]}
	paging := map[string]any{"cursors": map[string]string{"before": strconv.Itoa(start), "after": strconv.Itoa(end)}}
	if end < len(items) {
		paging["next"] = "https://graph.facebook.com/next?after=" + strconv.Itoa(end)
	}
	out["paging"] = paging
	return out, nil
}

// conversations serves GET /{page-id}/conversations?platform=messenger.
func (s *Simulator) conversations(g *graphRequest, pageID string) (any, *apiError) {
	t, pageID, err := s.authenticateAs(g, http.MethodGet, pageID)
	if err != nil {
		return nil, err
	}
	if t.pageID != pageID {
		return nil, &apiError{http.StatusBadRequest, 190, 0, "OAuthException", "The access token does not belong to this page."}
	}
	if g.param("platform") != "messenger" {
		return nil, invalidParam("platform must be messenger or instagram")
	}
	if err := s.rateLimited(pageID); err != nil {
		return nil, err
	}
	threads := slices.Clone(s.history.threads[pageID])
	slices.SortStableFunc(threads, func(a, b HistoryThread) int { return lastAt(b).Compare(lastAt(a)) })
	out := make([]map[string]any, len(threads))
	for i, th := range threads {
		out[i] = map[string]any{
			"id": th.ID, "updated_time": fbTime(lastAt(th)),
			"participants": map[string]any{"data": []map[string]string{
				{"id": th.PSID, "name": th.CustomerName},
				{"id": pageID, "name": s.pages[pageID].name},
			}},
		}
	}
	return pageOf(g, out)
}

// threadMessages serves GET /{conversation-id}/messages.
func (s *Simulator) threadMessages(g *graphRequest, threadID string) (any, *apiError) {
	t, err := s.authenticate(g)
	if err != nil {
		return nil, err
	}
	idx := slices.IndexFunc(s.history.threads[t.pageID], func(th HistoryThread) bool { return th.ID == threadID })
	if idx < 0 {
		return nil, unsupported(g.method, threadID)
	}
	if err := s.rateLimited(t.pageID); err != nil {
		return nil, err
	}
	th := s.history.threads[t.pageID][idx]
	msgs := slices.Clone(th.Messages)
	slices.SortStableFunc(msgs, func(a, b HistoryMessage) int { return b.At.Compare(a.At) })
	page := map[string]string{"id": t.pageID, "name": s.pages[t.pageID].name}
	customer := map[string]string{"id": th.PSID, "name": th.CustomerName}
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		from, to := customer, page
		if m.FromPage {
			from, to = page, customer
		}
		item := map[string]any{
			"id": m.MID, "created_time": fbTime(m.At), "message": m.Text,
			"from": from, "to": map[string]any{"data": []map[string]string{to}},
		}
		var atts []map[string]any
		if m.ImageURL != "" {
			atts = append(atts, map[string]any{"mime_type": "image/jpeg", "image_data": map[string]any{"url": m.ImageURL}})
		}
		if m.FileURL != "" {
			atts = append(atts, map[string]any{"mime_type": m.FileMimeType, "name": m.FileName, "file_url": m.FileURL})
		}
		if atts != nil {
			item["attachments"] = map[string]any{"data": atts}
		}
		out[i] = item
	}
	return pageOf(g, out)
}
