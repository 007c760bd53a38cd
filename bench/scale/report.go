package main

import (
	"context"
	"fmt"
	"image/color"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"fbchannel/app/apptest"
	"fbchannel/workflows/contract"
)

func (b *bench) report(ctx context.Context, openTook time.Duration, queueEvents int64, activeSent int64) error {
	cfg := b.cfg
	b.mu.Lock()
	samples := slices.Clone(b.samples)
	b.mu.Unlock()
	p := func(format string, args ...any) { fmt.Printf(format, args...) }

	p("## Scale: %d conversations on %s, %d worker(s), sticky cache %d\n\n", cfg.conversations, cfg.label, cfg.workers, cfg.stickyCache)
	p("Run %s. Deliveries answered 200: %d, not 200: %d.\n\n", time.Now().UTC().Format("2006-01-02 15:04"), b.sent.Load(), b.failed.Load())
	p("| measure | value |\n|---|---|\n")
	p("| time to open all %d (webhook → conversation row) | %.1f s (%.1f conversations/s) |\n", cfg.conversations, openTook.Seconds(), float64(cfg.conversations)/openTook.Seconds())
	p("| queue workflow: history events while opening | %d (%.1f/s over the phase), %d run(s) so far |\n", queueEvents, float64(queueEvents)/openTook.Seconds(), b.queueRuns(ctx))
	if total, peak, span := b.queueSignals(ctx); total > 0 {
		p("| queue workflow: wake signals in its current run | %d over %.1f s: %.1f/s mean, %d in the busiest second |\n", total, span.Seconds(), float64(total)/max(span.Seconds(), 1), peak)
	}
	p("| active phase | %d conversations, %d messages in %s |\n", int(float64(cfg.conversations)*cfg.active), activeSent, cfg.activeFor)

	first, openEnd, last := samples[0], samples[0], samples[len(samples)-1]
	var active []sample
	for _, s := range samples {
		if s.phase == "open" {
			openEnd = s
		} else {
			active = append(active, s)
		}
	}
	rssMax, gorMax := 0.0, 0.0
	for _, s := range samples {
		rssMax, gorMax = max(rssMax, s.rssMB), max(gorMax, s.goroutines)
	}
	p("| worker RSS: before load, end of open, last, max | %.0f, %.0f, %.0f, %.0f MB |\n", first.rssMB, openEnd.rssMB, last.rssMB, rssMax)
	p("| worker goroutines: before load, end of open, last, max | %.0f, %.0f, %.0f, %.0f |\n", first.goroutines, openEnd.goroutines, last.goroutines, gorMax)
	if len(active) > 1 {
		lo, hi := active[0].rssMB, active[0].rssMB
		for _, s := range active {
			lo, hi = min(lo, s.rssMB), max(hi, s.rssMB)
		}
		p("| worker RSS over the active phase (after warm-up): min – max | %.0f – %.0f MB (spread %.0f%% of max) |\n", lo, hi, 100*(hi-lo)/hi)
	}
	if last.sticky >= 0 {
		p("| sticky cache entries at the end | %.0f (bound %d) |\n", last.sticky, cfg.stickyCache)
	}
	if size, err := databaseSize(ctx, b.st, b.st.Database); err == nil {
		p("| channel's Postgres database | %s |\n", size)
	}
	for _, db := range strings.Split(cfg.temporalDatabases, ",") {
		if db = strings.TrimSpace(db); db != "" {
			if size, err := databaseSize(ctx, b.st, db); err == nil {
				p("| Temporal's database %s | %s |\n", db, size)
			}
		}
	}
	if cfg.temporalAddress == "" {
		p("| Temporal's storage | the dev server's in-memory SQLite (not measured) |\n")
	}
	mean, p50, maxLen, n := b.historyLengths(ctx)
	p("| history events per conversation (%d sampled) | mean %.1f, median %d, max %d |\n", n, mean, p50, maxLen)
	if cfg.plot != "" {
		if err := b.drawPlot(samples, openEnd.at); err != nil {
			return err
		}
		p("\nPlot: `%s`.\n", cfg.plot)
	}
	return nil
}

func databaseSize(ctx context.Context, st *apptest.Stack, db string) (string, error) {
	var size string
	err := st.DB.QueryRowContext(ctx, `SELECT pg_size_pretty(pg_database_size($1))`, db).Scan(&size)
	return size, err
}

// historyLengths reads the history length of a random sample of conversations.
func (b *bench) historyLengths(ctx context.Context) (mean float64, median, maxLen int64, n int) {
	ids := rand.Perm(b.cfg.conversations)[:min(b.cfg.historySample, b.cfg.conversations)]
	var lens []int64
	for _, i := range ids {
		d, err := b.temporal.DescribeWorkflowExecution(ctx, contract.ConversationWorkflowID(b.page.PageID, psid(i)), "")
		if err != nil {
			continue
		}
		lens = append(lens, d.GetWorkflowExecutionInfo().GetHistoryLength())
	}
	if len(lens) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(lens)
	var sum int64
	for _, l := range lens {
		sum += l
	}
	return float64(sum) / float64(len(lens)), lens[len(lens)/2], lens[len(lens)-1], len(lens)
}

// drawPlot writes the samples as a PNG: the worker's memory above, its
// goroutines, sticky cache and the open conversations below, with the end of the
// open phase marked on both.
func (b *bench) drawPlot(samples []sample, openEnd time.Duration) error {
	mem := plot.New()
	mem.Title.Text = fmt.Sprintf("%d conversations on %s, %d worker(s), sticky cache %d", b.cfg.conversations, b.cfg.label, b.cfg.workers, b.cfg.stickyCache)
	mem.Y.Label.Text = "worker RSS (MB)"
	mem.Y.Min = 0
	counts := plot.New()
	counts.X.Label.Text = "seconds since the first webhook (dashed: all open, active phase after)"
	counts.Y.Label.Text = "count"
	counts.Y.Min = 0
	series := func(f func(sample) float64) plotter.XYs {
		var xy plotter.XYs
		for _, s := range samples {
			if v := f(s); v >= 0 {
				xy = append(xy, plotter.XY{X: s.at.Seconds(), Y: v})
			}
		}
		return xy
	}
	add := func(p *plot.Plot, name string, xy plotter.XYs, c color.Color) error {
		if len(xy) == 0 {
			return nil
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return err
		}
		l.Color, l.Width = c, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
		return nil
	}
	blue, red, green, grey := color.RGBA{B: 200, A: 255}, color.RGBA{R: 200, A: 255}, color.RGBA{G: 150, A: 255}, color.RGBA{R: 120, G: 120, B: 120, A: 255}
	if err := add(mem, "worker RSS", series(func(s sample) float64 { return s.rssMB }), blue); err != nil {
		return err
	}
	if err := add(counts, "worker goroutines", series(func(s sample) float64 { return s.goroutines }), red); err != nil {
		return err
	}
	if err := add(counts, "sticky cache entries", series(func(s sample) float64 { return s.sticky }), green); err != nil {
		return err
	}
	if err := add(counts, "open conversations", series(func(s sample) float64 { return float64(s.open) }), grey); err != nil {
		return err
	}
	for _, p := range []*plot.Plot{mem, counts} {
		p.Legend.Top, p.Legend.Left = true, true
		p.Add(plotter.NewGrid())
		p.Add(&verticalMark{x: openEnd.Seconds(), style: draw.LineStyle{Color: grey, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(4)}}})
	}
	img := vgimg.New(vg.Points(900), vg.Points(640))
	dc := draw.New(img)
	plots := [][]*plot.Plot{{mem}, {counts}}
	canvases := plot.Align(plots, draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(8), PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8)}, dc)
	mem.Draw(canvases[0][0])
	counts.Draw(canvases[1][0])
	f, err := os.Create(b.cfg.plot)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// verticalMark is a dashed vertical line across the whole plot at x.
type verticalMark struct {
	x     float64
	style draw.LineStyle
}

func (m *verticalMark) Plot(c draw.Canvas, p *plot.Plot) {
	x := p.X.Norm(m.x)*float64(c.Max.X-c.Min.X) + float64(c.Min.X)
	c.StrokeLine2(m.style, vg.Length(x), c.Min.Y, vg.Length(x), c.Max.Y)
}
