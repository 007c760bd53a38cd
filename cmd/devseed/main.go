// Command devseed fills a running development stack (`make run`) with one working
// channel: a demo Facebook app, page and customer in the Graph API simulator, and the
// matching account, page and agent in the starter, created through their HTTP APIs
// only. It writes what it made to .data/demo.env and prints ready-to-paste curl lines.
//
// The simulator keeps nothing across restarts, so the app, page and profile are
// registered there on every run; the account, page and agent are reused while the
// starter still knows them, so running devseed again creates no duplicates.
//
// Environment: STARTER_URL (default http://localhost:8080), SIM_URL (default
// http://localhost:8090), ADMIN_TOKEN (default dev-admin-token, the dev stack's),
// DEVSEED_ENV_FILE (default .data/demo.env).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fbchannel/apiclient"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The demo's fixed Facebook identities.
const (
	demoAppID     = "demo-app"
	demoPageID    = "100000000000001"
	demoPageName  = "Demo Page"
	demoPSID      = "200000000000001"
	demoAgentMail = "agent@example.com"
)

// Page permissions a real page token would carry for this channel.
var demoScopes = []string{
	"pages_messaging",
	"pages_manage_metadata",
	"pages_show_list",
	"pages_read_engagement",
	"business_management",
}

type config struct {
	starterURL string
	simURL     string
	adminToken string
	envFile    string
}

// demo is what devseed creates and what .data/demo.env keeps between runs.
type demo struct {
	AppSecret          string
	PageAccessToken    string
	AccountID          string
	PageUUID           string
	CallbackURL        string
	VerifyToken        string
	ProvisioningStatus string
	AgentID            string
	AgentToken         string
}

func main() {
	if err := run(context.Background(), loadConfig()); err != nil {
		fmt.Fprintf(os.Stderr, "devseed: %v\n", err)
		os.Exit(1)
	}
}

func loadConfig() config {
	c := config{
		starterURL: strings.TrimRight(envOr("STARTER_URL", "http://localhost:8080"), "/"),
		simURL:     strings.TrimRight(envOr("SIM_URL", "http://localhost:8090"), "/"),
		adminToken: os.Getenv("ADMIN_TOKEN"),
		envFile:    envOr("DEVSEED_ENV_FILE", filepath.Join(".data", "demo.env")),
	}
	if c.adminToken == "" {
		c.adminToken = "dev-admin-token"
		fmt.Println("ADMIN_TOKEN is not set; using the dev stack's dev-admin-token")
	}
	return c
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, cfg config) error {
	api := &client{http: &http.Client{Timeout: 20 * time.Second}}

	if err := api.waitUp(ctx, cfg.simURL+"/_sim/requests", 30*time.Second); err != nil {
		return fmt.Errorf("the simulator at %s does not answer: %w", cfg.simURL, err)
	}
	if err := api.waitUp(ctx, cfg.starterURL+"/", 30*time.Second); err != nil {
		return fmt.Errorf("the starter at %s does not answer: %w", cfg.starterURL, err)
	}

	d, reused, err := previousDemo(ctx, api, cfg)
	if err != nil {
		return err
	}
	if !reused {
		d = demo{AppSecret: randomHex(16), PageAccessToken: "EAAdemo" + randomHex(24)}
	}

	// The simulator first: saving the page makes the worker check the token against it.
	if err := registerInSimulator(ctx, api, cfg, d); err != nil {
		return err
	}

	admin := cfg.adminToken
	if !reused {
		var acc struct {
			ID string `json:"id"`
		}
		err := api.call(ctx, http.MethodPost, cfg.starterURL+"/api/v1/accounts", admin,
			map[string]any{"name": "Demo", "app_id": demoAppID, "app_secret": d.AppSecret}, &acc)
		if err != nil {
			return err
		}
		if acc.ID == "" {
			return errors.New("POST /api/v1/accounts answered without an id")
		}
		d.AccountID = acc.ID
		fmt.Printf("created account %s\n", d.AccountID)
	} else {
		fmt.Printf("reusing account %s from %s\n", d.AccountID, cfg.envFile)
	}

	if err := ensurePage(ctx, api, cfg, &d, reused); err != nil {
		return err
	}
	// Now that the page has its callback URL, the simulator echoes the page's sends
	// there, as Facebook does for an app subscribed to message_echoes.
	if err := api.call(ctx, http.MethodPost, cfg.simURL+"/_sim/apps", "",
		map[string]any{"app_id": demoAppID, "app_secret": d.AppSecret, "callback_url": d.CallbackURL}, nil); err != nil {
		return err
	}
	if err := ensureAgent(ctx, api, cfg, &d, reused); err != nil {
		return err
	}
	waitProvisioned(ctx, api, cfg, &d)

	if err := writeEnvFile(cfg, d); err != nil {
		return err
	}
	printSummary(cfg, d)
	return nil
}

// previousDemo reads the env file of an earlier run and keeps it if the starter still
// has its account.
func previousDemo(ctx context.Context, api *client, cfg config) (demo, bool, error) {
	prev, err := readEnvFile(cfg.envFile)
	if err != nil || prev["ACCOUNT_ID"] == "" || prev["APP_SECRET"] == "" {
		return demo{}, false, nil
	}
	status, body, err := api.raw(ctx, http.MethodGet,
		cfg.starterURL+"/api/v1/accounts/"+url.PathEscape(prev["ACCOUNT_ID"]), cfg.adminToken, nil)
	if err != nil {
		return demo{}, false, err
	}
	switch {
	case status == http.StatusOK:
	case status == http.StatusNotFound || status == http.StatusGone:
		fmt.Printf("account %s from %s is gone; creating a new demo\n", prev["ACCOUNT_ID"], cfg.envFile)
		return demo{}, false, nil
	default:
		return demo{}, false, httpError(http.MethodGet, "/api/v1/accounts/"+prev["ACCOUNT_ID"], status, body)
	}
	token := prev["PAGE_ACCESS_TOKEN"]
	if token == "" {
		token = "EAAdemo" + randomHex(24)
	}
	return demo{
		AppSecret:       prev["APP_SECRET"],
		PageAccessToken: token,
		AccountID:       prev["ACCOUNT_ID"],
		PageUUID:        prev["PAGE_UUID"],
		CallbackURL:     prev["CALLBACK_URL"],
		VerifyToken:     prev["VERIFY_TOKEN"],
		AgentID:         prev["AGENT_ID"],
		AgentToken:      prev["AGENT_TOKEN"],
	}, true, nil
}

func registerInSimulator(ctx context.Context, api *client, cfg config, d demo) error {
	steps := []struct {
		path string
		body map[string]any
	}{
		{"/_sim/apps", map[string]any{"app_id": demoAppID, "app_secret": d.AppSecret}},
		{"/_sim/pages", map[string]any{
			"page_id": demoPageID, "name": demoPageName, "access_token": d.PageAccessToken,
			"app_id": demoAppID, "scopes": demoScopes,
		}},
		{"/_sim/profiles", map[string]any{
			"psid": demoPSID, "first_name": "Ada", "last_name": "Lovelace",
			"profile_pic": "https://example.com/ada.png", "locale": "en_GB",
		}},
	}
	for _, s := range steps {
		if err := api.call(ctx, http.MethodPost, cfg.simURL+s.path, "", s.body, nil); err != nil {
			return err
		}
	}
	fmt.Printf("registered app %s, page %s and customer %s (Ada Lovelace) in the simulator\n",
		demoAppID, demoPageID, demoPSID)
	return nil
}

type pageAnswer struct {
	ID                 string `json:"id"`
	PageID             string `json:"page_id"`
	CallbackURL        string `json:"callback_url"`
	VerifyToken        string `json:"verify_token"`
	ProvisioningStatus string `json:"provisioning_status"`
	LastError          any    `json:"last_error"`
}

func ensurePage(ctx context.Context, api *client, cfg config, d *demo, reused bool) error {
	admin := cfg.adminToken
	if reused && d.PageUUID != "" {
		var p pageAnswer
		path := "/api/v1/pages/" + url.PathEscape(d.PageUUID)
		status, body, err := api.raw(ctx, http.MethodGet, cfg.starterURL+path, admin, nil)
		if err != nil {
			return err
		}
		switch status {
		case http.StatusOK:
			if err := json.Unmarshal(body, &p); err != nil {
				return fmt.Errorf("GET %s: unreadable answer: %v: %s", path, err, body)
			}
			if p.CallbackURL != "" {
				d.CallbackURL = p.CallbackURL
			}
			if p.VerifyToken != "" {
				d.VerifyToken = p.VerifyToken
			}
			d.ProvisioningStatus = p.ProvisioningStatus
			fmt.Printf("reusing page %s (%s)\n", d.PageUUID, p.ProvisioningStatus)
			if p.ProvisioningStatus == "failed" || p.ProvisioningStatus == "needs_reauth" {
				// The simulator forgot the token when it restarted; hand it over again.
				err := api.call(ctx, http.MethodPut, cfg.starterURL+path+"/token", admin,
					map[string]any{"access_token": d.PageAccessToken}, nil)
				if err != nil {
					return err
				}
				d.ProvisioningStatus = "pending"
				fmt.Println("re-provisioning the page with its token")
			}
			return nil
		case http.StatusNotFound, http.StatusGone:
			fmt.Printf("page %s is gone; creating it again\n", d.PageUUID)
		default:
			return httpError(http.MethodGet, path, status, body)
		}
	}
	var p pageAnswer
	err := api.call(ctx, http.MethodPost, cfg.starterURL+"/api/v1/accounts/"+url.PathEscape(d.AccountID)+"/pages", admin,
		map[string]any{"name": demoPageName, "page_id": demoPageID, "access_token": d.PageAccessToken}, &p)
	if err != nil {
		return err
	}
	if p.ID == "" || p.CallbackURL == "" {
		return fmt.Errorf("POST /api/v1/accounts/%s/pages answered without id or callback_url", d.AccountID)
	}
	d.PageUUID, d.CallbackURL, d.VerifyToken, d.ProvisioningStatus = p.ID, p.CallbackURL, p.VerifyToken, p.ProvisioningStatus
	fmt.Printf("created page %s (%s)\n", d.PageUUID, p.ProvisioningStatus)
	return nil
}

func ensureAgent(ctx context.Context, api *client, cfg config, d *demo, reused bool) error {
	if reused && d.AgentToken != "" {
		status, body, err := api.raw(ctx, http.MethodGet, cfg.starterURL+"/api/v1/me/conversations", d.AgentToken, nil)
		if err != nil {
			return err
		}
		switch {
		case status == http.StatusOK:
			fmt.Printf("reusing agent %s\n", d.AgentID)
			return nil
		case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound:
			fmt.Println("the agent token from the last run no longer works; creating a new agent")
		default:
			return httpError(http.MethodGet, "/api/v1/me/conversations", status, body)
		}
	}
	var a struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	err := api.call(ctx, http.MethodPost, cfg.starterURL+"/api/v1/agents", cfg.adminToken,
		map[string]any{"name": "Demo Agent", "email": demoAgentMail, "capacity": 3}, &a)
	if err != nil {
		return err
	}
	if a.Token == "" {
		return errors.New("POST /api/v1/agents answered without a token")
	}
	d.AgentID, d.AgentToken = a.ID, a.Token
	fmt.Printf("created agent %s (%s)\n", d.AgentID, a.Name)
	return nil
}

// waitProvisioned shows whether the worker got the page working; it never fails the seed.
func waitProvisioned(ctx context.Context, api *client, cfg config, d *demo) {
	path := cfg.starterURL + "/api/v1/pages/" + url.PathEscape(d.PageUUID)
	deadline := time.Now().Add(20 * time.Second)
	var p pageAnswer
	for {
		status, body, err := api.raw(ctx, http.MethodGet, path, cfg.adminToken, nil)
		if err == nil && status == http.StatusOK && json.Unmarshal(body, &p) == nil && p.ProvisioningStatus != "" {
			d.ProvisioningStatus = p.ProvisioningStatus
			if p.ProvisioningStatus != "pending" {
				break
			}
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	switch d.ProvisioningStatus {
	case "active":
		fmt.Println("page provisioning: active")
	case "":
		fmt.Println("page provisioning: unknown (GET /api/v1/pages/{id} did not say)")
	default:
		fmt.Printf("page provisioning: %s", d.ProvisioningStatus)
		if p.LastError != nil && p.LastError != "" {
			fmt.Printf(" (last_error: %v)", p.LastError)
		}
		fmt.Println(" — see .data/logs/worker.log")
	}
}

// ---------------------------------------------------------------------------------------
// .data/demo.env: KEY='value' lines that a shell can source.

func envLines(cfg config, d demo) [][2]string {
	return [][2]string{
		{"STARTER_URL", cfg.starterURL},
		{"SIM_URL", cfg.simURL},
		{"ADMIN_TOKEN", cfg.adminToken},
		{"APP_ID", demoAppID},
		{"APP_SECRET", d.AppSecret},
		{"ACCOUNT_ID", d.AccountID},
		{"PAGE_ID", demoPageID},
		{"PAGE_NAME", demoPageName},
		{"PAGE_ACCESS_TOKEN", d.PageAccessToken},
		{"PAGE_UUID", d.PageUUID},
		{"CALLBACK_URL", d.CallbackURL},
		{"VERIFY_TOKEN", d.VerifyToken},
		{"PSID", demoPSID},
		{"AGENT_ID", d.AgentID},
		{"AGENT_EMAIL", demoAgentMail},
		{"AGENT_TOKEN", d.AgentToken},
	}
}

func writeEnvFile(cfg config, d demo) error {
	var b strings.Builder
	b.WriteString("# Written by cmd/devseed (make run). Development credentials only.\n")
	for _, kv := range envLines(cfg, d) {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if err := os.MkdirAll(filepath.Dir(cfg.envFile), 0o755); err != nil {
		return err
	}
	tmp := cfg.envFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, cfg.envFile)
}

func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = shellUnquote(strings.TrimSpace(v))
	}
	return m, sc.Err()
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func shellUnquote(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], `'\''`, "'")
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// ---------------------------------------------------------------------------------------
// Output

func printSummary(cfg config, d demo) {
	fmt.Printf("\nDemo data (also in %s):\n", cfg.envFile)
	for _, kv := range envLines(cfg, d) {
		fmt.Printf("  %-18s %s\n", kv[0], kv[1])
	}

	customer, _ := json.Marshal(map[string]string{
		"callback_url": d.CallbackURL, "app_secret": d.AppSecret, "page_id": demoPageID,
		"psid": demoPSID, "text": "Hello",
	})
	agent := "-H 'Authorization: Bearer " + d.AgentToken + "'"
	fmt.Printf(`
The agent becomes available:
  curl -sS -XPUT %[1]s/api/v1/me/presence %[2]s -H 'Content-Type: application/json' -d '{"status":"available"}'

A customer (Ada Lovelace) writes to the page; the simulator signs the webhook and posts it:
  curl -sS -XPOST %[3]s/_sim/customer/messages -H 'Content-Type: application/json' -d '%[4]s'

The agent's conversations, and its live events:
  curl -sS %[1]s/api/v1/me/conversations %[2]s
  curl -sSN %[1]s/api/v1/me/events %[2]s

Agent desk: %[1]s/desk (agent token above). What the page sent back to the customer:
  curl -sS '%[3]s/_sim/requests?path_suffix=/messages'
`, cfg.starterURL, agent, cfg.simURL, customer)
}

// ---------------------------------------------------------------------------------------
// HTTP

type client struct{ http *http.Client }

// waitUp waits until url answers HTTP at all (any status).
func (c *client) waitUp(ctx context.Context, u string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// raw sends a JSON request with the bearer token (if any) and returns the
// status and body, whatever the status.
func (c *client) raw(ctx context.Context, method, u, token string, body any) (int, []byte, error) {
	return apiclient.Do(ctx, c.http, method, u, token, body)
}

// call sends a JSON request, requires a 2xx answer and decodes it into out (if not nil).
func (c *client) call(ctx context.Context, method, u, token string, body, out any) error {
	status, b, err := c.raw(ctx, method, u, token, body)
	if err != nil {
		return err
	}
	if status < 200 || status > 299 {
		return httpError(method, u, status, b)
	}
	if out != nil && len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %d but the answer is not the expected JSON (%v): %s", method, u, status, err, b)
		}
	}
	return nil
}

func httpError(method, u string, status int, body []byte) error {
	return fmt.Errorf("%s %s: HTTP %d %s: %s", method, u, status, http.StatusText(status),
		strings.TrimSpace(string(body)))
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
