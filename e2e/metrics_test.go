//go:build integration

package e2e

// Reading the Prometheus metrics the starters and workers expose.

import (
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricFamilies is a parsed /metrics answer, by family name.
type metricFamilies = map[string]*dto.MetricFamily

// opsParse parses a /metrics answer with the Prometheus text parser.
func opsParse(t *testing.T, r io.Reader) metricFamilies {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text format: %v", err)
	}
	return mfs
}

// opsScrape fetches and parses base+"/metrics".
func opsScrape(t *testing.T, base string) metricFamilies {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return opsParse(t, resp.Body)
}

// opsSample finds the series of a family whose labels include want; ok is false when absent.
func opsSample(mfs metricFamilies, name string, want map[string]string) (*dto.Metric, bool) {
	mf := mfs[name]
	if mf == nil {
		return nil, false
	}
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
			}
		}
		if match {
			return m, true
		}
	}
	return nil, false
}

// opsValue is a counter's or gauge's value (0 when absent).
func opsValue(mfs metricFamilies, name string, want map[string]string) float64 {
	m, ok := opsSample(mfs, name, want)
	switch {
	case !ok:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}
