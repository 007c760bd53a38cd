package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"fbchannel/bench/measure"
	"fbchannel/messenger"
	"fbchannel/simulator"
)

// lockedRand is a math/rand/v2 generator safe for the soak's goroutines.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newRand(seed int64, stream uint64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(uint64(seed), stream))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

func (l *lockedRand) IntN(n int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.IntN(n)
}

// between is a uniform duration in [lo, hi).
func (l *lockedRand) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return lo + time.Duration(l.r.Int64N(int64(hi-lo)))
}

// customer is one PSID writing to the page; its messages go one at a time, the next
// only once the previous delivery is acknowledged (a thread's order is kept).
type customer struct {
	idx       int
	psid      string
	total     int
	sent      int
	inFlight  bool
	remaining int
}

// sentMessage is one customer message the soak offered.
type sentMessage struct {
	mid   string
	psid  string
	acked bool
}

type delivery struct {
	body       []byte
	signature  string
	mids       []string
	customers  []*customer
	redelivery bool
}

// ackStats counts every POST of the webhook and its answer.
type ackStats struct {
	mu               sync.Mutex
	attempts         int
	ok               int
	byStatus         map[int]int    // non-200 HTTP answers
	transport        map[string]int // no HTTP answer at all
	deliveries       int
	retried          int // deliveries that needed more than one attempt
	maxAttempts      int
	redeliveries     int
	redeliveryNon200 int
	latencies        []time.Duration // of 200 answers
	non200Times      []time.Duration // since the load started, for the timeline
}

type driver struct {
	s   *soak
	rng *lockedRand
	all []*customer

	mu       sync.Mutex
	idle     []*customer
	messages map[string]*sentMessage // by mid
	order    []string
	offeredN int
	wg       sync.WaitGroup // deliveries in flight (with their retries)
	redelWG  sync.WaitGroup
	stopped  atomic.Bool // abandon: retries give up
	start    time.Time

	stats ackStats
}

func newDriver(s *soak, rng *rand.Rand) *driver {
	cfg := s.cfg
	d := &driver{s: s, rng: newRand(cfg.seed, 2), messages: map[string]*sentMessage{},
		stats: ackStats{byStatus: map[int]int{}, transport: map[string]int{}}}
	for i := 0; i < cfg.conversations; i++ {
		d.all = append(d.all, &customer{idx: i, psid: fmt.Sprintf("3%015d", rng.Int64N(1e15))})
	}
	// Each message goes to a random customer: about messages/conversations each, some more.
	for i := 0; i < cfg.messages; i++ {
		d.all[rng.IntN(len(d.all))].total++
	}
	for _, c := range d.all {
		c.remaining = c.total
		if c.total > 0 {
			d.idle = append(d.idle, c)
		}
	}
	return d
}

func (d *driver) offered() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.offeredN
}

// drive offers the messages at the configured rate until all are offered or ctx ends.
func (d *driver) drive(ctx context.Context) {
	cfg := d.s.cfg
	d.start = time.Now()
	sem := make(chan struct{}, cfg.concurrency)
	next := time.Now()
	lastLog := time.Now()
	for {
		if ctx.Err() != nil {
			return
		}
		if time.Since(lastLog) > 30*time.Second {
			lastLog = time.Now()
			d.stats.mu.Lock()
			ok, att := d.stats.ok, d.stats.attempts
			d.stats.mu.Unlock()
			logf("load: %d/%d messages offered, %d webhook POSTs, %d acknowledged 200", d.offered(), cfg.messages, att, ok)
		}
		batch := d.take()
		if batch == nil {
			if d.offered() >= cfg.messages {
				return
			}
			// Every customer with messages left is waiting for an acknowledgement.
			if measure.Sleep(ctx, 50*time.Millisecond) != nil {
				return
			}
			continue
		}
		// Pace by messages; a stalled system slows the load (no burst afterwards).
		if wait := time.Until(next); wait > 0 {
			if measure.Sleep(ctx, wait) != nil {
				d.untake(batch)
				return
			}
		} else if wait < -time.Second {
			next = time.Now()
		}
		next = next.Add(time.Duration(float64(len(batch)) / cfg.rate * float64(time.Second)))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			d.untake(batch)
			return
		}
		dl := d.build(batch)
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer func() { <-sem }()
			acked := d.deliver(dl)
			d.release(batch, acked)
			if acked && d.rng.Float64() < cfg.redeliverProb {
				d.redeliver(dl)
			}
		}()
	}
}

// take picks one customer, or with batchProb two or three, whose next message can go.
func (d *driver) take() []*customer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.idle) == 0 || d.offeredN >= d.s.cfg.messages {
		return nil
	}
	n := 1
	if d.rng.Float64() < d.s.cfg.batchProb {
		n = 2 + d.rng.IntN(2)
	}
	var out []*customer
	for len(out) < n && len(d.idle) > 0 && d.offeredN < d.s.cfg.messages {
		i := d.rng.IntN(len(d.idle))
		c := d.idle[i]
		d.idle[i] = d.idle[len(d.idle)-1]
		d.idle = d.idle[:len(d.idle)-1]
		c.inFlight = true
		c.remaining--
		c.sent++
		d.offeredN++
		out = append(out, c)
	}
	return out
}

// untake gives back what take took, for a batch that was never sent.
func (d *driver) untake(batch []*customer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range batch {
		c.inFlight = false
		c.remaining++
		c.sent--
		d.offeredN--
		d.idle = append(d.idle, c)
	}
}

// release makes the customers idle again (if they have messages left).
func (d *driver) release(batch []*customer, _ bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range batch {
		c.inFlight = false
		if c.remaining > 0 {
			d.idle = append(d.idle, c)
		}
	}
}

// build makes one signed delivery: one page entry with each customer's next message,
// the way Facebook batches events of several senders.
func (d *driver) build(batch []*customer) *delivery {
	dl := &delivery{customers: batch}
	var texts []simulator.CustomerText
	d.mu.Lock()
	for _, c := range batch {
		mid := fmt.Sprintf("m_soak_%s_%d_%d", d.s.runID, c.idx, c.sent)
		text := fmt.Sprintf("Soak message %d of %d from customer %d (%s)", c.sent, c.total, c.idx, mid)
		texts = append(texts, simulator.CustomerText{PSID: c.psid, MID: mid, Text: text})
		dl.mids = append(dl.mids, mid)
		d.messages[mid] = &sentMessage{mid: mid, psid: c.psid}
		d.order = append(d.order, mid)
	}
	d.mu.Unlock()
	body, _ := simulator.TextBatch(d.s.pageID, time.Now().UnixMilli(), texts...)
	dl.body = body
	dl.signature = messenger.Sign(d.s.appSecret, body)
	return dl
}

// deliver POSTs until the starter answers 200, backing off like Facebook (which
// retries failed deliveries for hours); it gives up only when the soak abandons.
func (d *driver) deliver(dl *delivery) bool {
	d.stats.mu.Lock()
	d.stats.deliveries++
	d.stats.mu.Unlock()
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		if d.stopped.Load() {
			return false
		}
		t0 := time.Now()
		status, err := d.post(dl)
		lat := time.Since(t0)
		d.stats.mu.Lock()
		d.stats.attempts++
		if dl.redelivery && (err != nil || status != http.StatusOK) {
			d.stats.redeliveryNon200++
		}
		switch {
		case err != nil:
			d.stats.transport[classify(err)]++
			d.stats.non200Times = append(d.stats.non200Times, time.Since(d.start))
		case status != http.StatusOK:
			d.stats.byStatus[status]++
			d.stats.non200Times = append(d.stats.non200Times, time.Since(d.start))
		default:
			d.stats.ok++
			d.stats.latencies = append(d.stats.latencies, lat)
			if attempt > 1 && !dl.redelivery {
				d.stats.retried++
			}
			if attempt > d.stats.maxAttempts {
				d.stats.maxAttempts = attempt
			}
		}
		d.stats.mu.Unlock()
		if err == nil && status == http.StatusOK {
			if !dl.redelivery {
				d.mu.Lock()
				for _, mid := range dl.mids {
					d.messages[mid].acked = true
				}
				d.mu.Unlock()
			}
			return true
		}
		// Bounded backoff with jitter: 1, 2, 4, 8, 15, 15, ... seconds.
		wait := d.rng.between(backoff/2, backoff+backoff/2)
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if d.stopped.Load() {
				return false
			}
			time.Sleep(100 * time.Millisecond)
		}
		if backoff < 15*time.Second {
			backoff *= 2
		}
	}
}

var webhookClient = &http.Client{
	Timeout: 20 * time.Second, // Facebook gives up on a delivery after about 20 s
	Transport: &http.Transport{
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	},
}

func (d *driver) post(dl *delivery) (int, error) {
	req, err := http.NewRequest(http.MethodPost, d.s.callbackURL, bytes.NewReader(dl.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "facebookexternalua")
	req.Header.Set(messenger.SignatureHeader, dl.signature)
	resp, err := webhookClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp.StatusCode, nil
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return msg
}

// redeliver sends an acknowledged delivery again, later, as Facebook sometimes does.
func (d *driver) redeliver(dl *delivery) {
	d.stats.mu.Lock()
	d.stats.redeliveries++
	d.stats.mu.Unlock()
	again := &delivery{body: dl.body, signature: dl.signature, mids: dl.mids, redelivery: true}
	d.redelWG.Add(1)
	go func() {
		defer d.redelWG.Done()
		time.Sleep(d.rng.between(0, 5*time.Second))
		d.deliver(again)
	}()
}

// waitAcked waits until no delivery is in flight or retrying, or ctx ends.
func (d *driver) waitAcked(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		d.redelWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		logf("every delivery is acknowledged")
	case <-ctx.Done():
		logf("deliveries still unacknowledged when the settle bound ran out")
	}
}

// abandon makes retries give up (their messages count as never acknowledged).
func (d *driver) abandon() {
	d.stopped.Store(true)
	d.wg.Wait()
	d.redelWG.Wait()
}

// acked lists the acknowledged mids and, for each, its customer.
func (d *driver) snapshot() (acked map[string]string, unacked []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	acked = map[string]string{}
	for _, mid := range d.order {
		m := d.messages[mid]
		if m.acked {
			acked[mid] = m.psid
		} else {
			unacked = append(unacked, mid)
		}
	}
	return acked, unacked
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i]
}
