//go:build integration

package e2e

import (
	"path/filepath"
	"testing"
	"time"
)

// /supervisor/reports draws the seeded day with Chart.js: the time series and
// the per-queue bars hold the report's numbers and paint their canvases, with
// no page problem (a script refused by the CSP, a console error). The
// screenshot is kept (DESK_SCREENSHOT_DIR).
func TestKPIReportsPageDrawsCharts(t *testing.T) {
	requireChromium(t)
	st := newStack(t)
	s := st.kpiSeededDay()
	sue := st.kpiSupervisor(s.general, s.billing)

	b := startBrowser(t)
	tb := b.newIsolatedTab("")
	tb.signIn(st.api.URL+"/desk", sue.Token)
	tb.waitFor("the desk", `!document.querySelector("#app").hidden`, 10*time.Second)
	tb.navigate(st.api.URL + "/supervisor/reports?from=2026-11-02&to=2026-11-02&by=queue&interval=hour")
	tb.waitFor("the report", `document.body.dataset.loaded === "true"`, 15*time.Second)

	type chartData struct {
		Labels   []string
		Datasets []struct {
			Label string
			Data  []*float64
		}
		Painted bool
	}
	read := func(id string) chartData {
		var c chartData
		tb.mustEval(`(() => {
			const canvas = document.getElementById(`+"`"+id+"`"+`);
			const chart = Chart.getChart(canvas);
			if (!chart || canvas.width === 0 || canvas.height === 0) return null;
			const px = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
			let painted = false;
			for (let i = 3; i < px.length; i += 4) if (px[i] !== 0) { painted = true; break; }
			return {labels: chart.data.labels, painted,
				datasets: chart.data.datasets.map((d) => ({label: d.label, data: d.data}))};
		})()`, &c)
		if !c.Painted || len(c.Labels) == 0 || len(c.Datasets) == 0 {
			t.Fatalf("%s: no chart drawn: %+v", id, c)
		}
		return c
	}
	sum := func(values []*float64) (n float64) {
		for _, v := range values {
			if v != nil {
				n += *v
			}
		}
		return n
	}

	// Time series over the day's 24 hours: 6 incoming, 4 served, 2 abandoned.
	volume := read("chart-volume")
	if len(volume.Labels) != 24 {
		t.Errorf("volume: %d hourly labels, want 24", len(volume.Labels))
	}
	for i, want := range []float64{6, 4, 2} {
		if got := sum(volume.Datasets[i].Data); got != want {
			t.Errorf("volume %s: %g over the day, want %g", volume.Datasets[i].Label, got, want)
		}
	}
	if service := read("chart-service"); sum(service.Datasets[0].Data) == 0 {
		t.Errorf("service level series is empty: %+v", service)
	}
	// Per-queue bars: the default queue 4 incoming, Billing 2.
	groups := read("chart-groups")
	if len(groups.Labels) != 2 || groups.Labels[1] != "Billing" || sum(groups.Datasets[0].Data[:1]) != 4 || sum(groups.Datasets[0].Data[1:]) != 2 {
		t.Errorf("per-queue bars: %v %+v", groups.Labels, groups.Datasets)
	}
	if times := read("chart-times"); sum(times.Datasets[2].Data) == 0 {
		t.Errorf("handle time bars are empty: %+v", times)
	}
	tb.screenshot(filepath.Join(screenshotDir(t), "supervisor-reports.png"), true)
	b.requireNoProblems()
}
