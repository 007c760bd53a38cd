package measure

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
)

// Scrape reads a program's /metrics (text format) into name → value, for the
// unlabelled series (the Go and process collectors') and the first series of a
// labelled one.
func Scrape(ctx context.Context, base string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 {
			name = line[:i]
			_, rest, ok = strings.Cut(line[strings.IndexByte(line, '}')+1:], " ")
		}
		if !ok {
			continue
		}
		if _, seen := m[name]; seen {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(rest)[0], 64); err == nil {
			m[name] = v
		}
	}
	return m, sc.Err()
}
