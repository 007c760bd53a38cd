// Command export measures the admin's bulk transcript export: its time and
// whether its memory stays flat as the export grows.
//
//	go run ./bench/export [-messages 100000] [-conversations 200]
//
// It creates a fresh database (created and migrated as the worker does), seeds
// one account with -conversations conversations holding -messages messages in
// all by SQL (generate_series; every 10th message has an image attachment,
// every 25th is an internal note, text ~120 bytes), then exports through the
// real HTTP handler (api.Server on an httptest listener, the admin token, a
// client that reads and counts the NDJSON lines and throws them away) twice:
// a range holding the first tenth of the conversations, then everything. During
// each export a sampler reads the Go heap (runtime.MemStats.HeapInuse) and the
// process's resident set (VmRSS of /proc/self/status) every 10 ms; the report
// gives the peak of each above the baseline taken before the export (after a
// GC), the time, and the rate. Flat memory means the two exports' peaks are
// about the same although one is ten times the other. The report is markdown
// on stdout; docs/PERFORMANCE.md has the results.
package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"fbchannel/api"
	"fbchannel/bench/measure"
	"fbchannel/store"
)

func main() {
	var scratch measure.Scratch
	scratch.Register()
	messages := flag.Int("messages", 100_000, "messages in all")
	conversations := flag.Int("conversations", 200, "conversations they are spread over")
	flag.Parse()
	measure.Run("export bench", func(ctx context.Context) error { return run(ctx, scratch, *messages, *conversations) })
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func run(ctx context.Context, scratch measure.Scratch, messages, conversations int) error {
	var accountID string
	db, seedTook, done, err := scratch.Seed(ctx, fmt.Sprintf("%d messages in %d conversations", messages, conversations), func(db *sql.DB) (err error) {
		accountID, err = seed(ctx, db, messages, conversations)
		return err
	})
	if err != nil {
		return err
	}
	defer done()

	const adminToken = "bench-admin-token"
	srv := &api.Server{Store: &store.Store{DB: db}, AdminToken: adminToken, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	fmt.Printf("# Bulk export benchmark\n\n")
	fmt.Printf("`go run ./bench/export -messages %d -conversations %d`: %d messages in %d conversations (seeded by SQL in %s), GOMAXPROCS %d, %s\n\n",
		messages, conversations, messages, conversations, seedTook.Round(time.Millisecond), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("| export | lines | messages | bytes | time | messages/s | heap in use, peak above baseline | RSS, peak above baseline | RSS peak |\n")
	fmt.Printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	tenth := conversations / 10
	if tenth == 0 {
		tenth = 1
	}
	ranges := []struct {
		label    string
		from, to time.Time
	}{
		{fmt.Sprintf("first %d conversations", tenth), base, base.Add(time.Duration(tenth) * time.Minute)},
		{"all", base, base.Add(time.Duration(conversations+1) * time.Minute)},
	}
	for _, rg := range ranges {
		r, err := measureExport(ts.URL, adminToken, accountID, rg.from, rg.to)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %d | %d | %s | %s | %.0f | %s | %s | %s |\n", rg.label, r.lines, r.messages, mib(r.bytes),
			r.took.Round(time.Millisecond), float64(r.messages)/r.took.Seconds(), mib(r.heapPeak-r.heapBase), mib(r.rssPeak-r.rssBase), mib(r.rssPeak))
	}
	return nil
}

// seed writes one account, page and queue, the conversations (opened a minute
// apart from base) and the messages, all by SQL.
func seed(ctx context.Context, db *sql.DB, messages, conversations int) (string, error) {
	accountID, pageUUID, queueID := uuid.NewString(), uuid.NewString(), uuid.NewString()
	const pageID = "900000000000001"
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO accounts (id, name, app_id) VALUES ($1, 'Bench', 'bench-app')`, []any{accountID}},
		{`INSERT INTO queues (id, account_id, name) VALUES ($1, $2, 'Bench queue')`, []any{queueID, accountID}},
		{`INSERT INTO pages (id, account_id, page_id, name, verify_token, webhook_id, provisioning_status) VALUES ($1, $2, $3, 'Bench page', 'v', $1, 'active')`,
			[]any{pageUUID, accountID, pageID}},
		{`INSERT INTO customers (id, page_id, psid, name)
			SELECT md5('cu' || i)::uuid, $1, (3000000000000000 + i)::text, 'Customer ' || i FROM generate_series(1, $2::int) i`,
			[]any{pageID, conversations}},
		{`INSERT INTO conversations (id, page_uuid, page_id, customer_id, status, queue_id, opened_at, closed_at, close_reason)
			SELECT md5('co' || i)::uuid, $1, $2, md5('cu' || i)::uuid, 'closed', $3, $4::timestamptz + (i - 1) * interval '1 minute',
				$4::timestamptz + (i - 1) * interval '1 minute' + interval '30 seconds', 'agent'
			FROM generate_series(1, $5::int) i`,
			[]any{pageUUID, pageID, queueID, base, conversations}},
		{`INSERT INTO messages (id, conversation_id, page_id, direction, sender, kind, text, attachments, status, created_at)
			SELECT gen_random_uuid(), md5('co' || (1 + (n - 1) % $2))::uuid, $3,
				CASE WHEN n % 25 = 0 THEN 'internal' WHEN n % 2 = 0 THEN 'outbound' ELSE 'inbound' END,
				CASE WHEN n % 25 = 0 OR n % 2 = 0 THEN 'agent' ELSE 'customer' END,
				CASE WHEN n % 25 = 0 THEN 'note' WHEN n % 10 = 0 THEN 'attachment' ELSE 'text' END,
				CASE WHEN n % 10 = 0 AND n % 25 <> 0 THEN '' ELSE 'Message ' || n || ': ' || repeat('lorem ipsum ', 9) END,
				CASE WHEN n % 10 = 0 AND n % 25 <> 0 THEN jsonb_build_array(jsonb_build_object('type', 'image', 'url', 'https://cdn.example/' || n || '.jpg')) ELSE '[]'::jsonb END,
				CASE WHEN n % 2 = 0 THEN 'sent' ELSE 'received' END,
				$4::timestamptz + ((n - 1) % $2) * interval '1 minute' + (n / $2) * interval '1 millisecond'
			FROM generate_series(1, $1::int) n`,
			[]any{messages, conversations, pageID, base}},
		{`ANALYZE`, nil},
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s.q, s.args...); err != nil {
			return "", fmt.Errorf("%.60s…: %w", s.q, err)
		}
	}
	return accountID, nil
}

type result struct {
	lines, messages, bytes int64
	took                   time.Duration
	heapBase, heapPeak     uint64
	rssBase, rssPeak       uint64
}

func measureExport(baseURL, token, accountID string, from, to time.Time) (result, error) {
	var r result
	runtime.GC()
	r.heapBase, r.rssBase = heapInUse(), rss()
	r.heapPeak, r.rssPeak = r.heapBase, r.rssBase
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				h, s := heapInUse(), rss()
				mu.Lock()
				r.heapPeak, r.rssPeak = max(r.heapPeak, h), max(r.rssPeak, s)
				mu.Unlock()
			}
		}
	}()
	q := url.Values{"from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
	req, _ := http.NewRequest("GET", baseURL+"/api/v1/accounts/"+accountID+"/export?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return r, fmt.Errorf("export: %d %s", resp.StatusCode, b)
	}
	// Count lines and messages as they come (each message object has one "kind").
	// A long line comes in several chunks: the tail of the previous chunk is
	// kept so that a "kind" split between two is still counted once.
	const marker = `"kind":`
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var tail []byte
	for {
		line, err := br.ReadSlice('\n')
		r.bytes += int64(len(line))
		window := append(tail, line...)
		r.messages += int64(bytes.Count(window, []byte(marker)))
		tail = append(tail[:0], window[max(0, len(window)-len(marker)+1):]...)
		if err == nil {
			tail = tail[:0]
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return r, err
		}
		r.lines++
	}
	r.took = time.Since(start)
	close(stop)
	wg.Wait()
	return r, nil
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rss is the process's resident set in bytes (0 where /proc is missing).
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n any) string {
	switch v := n.(type) {
	case int64:
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	case uint64:
		// A peak below the baseline (a GC during the export) is no growth.
		if v > 1<<62 {
			return "0.0 MiB"
		}
		return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
	}
	return fmt.Sprint(n)
}
