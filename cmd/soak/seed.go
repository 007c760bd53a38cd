package main

import (
	"context"
	"encoding/json"
	"fbchannel/apiclient"
	"fbchannel/bench/measure"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"time"
)

var httpClient = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     30 * time.Second,
	},
}

// call sends a JSON request with the bearer token (if any) and answers the
// status and body, whatever the status.
func call(ctx context.Context, method, url, token string, body any) (int, []byte, error) {
	return apiclient.Do(ctx, httpClient, method, url, token, body)
}

// mustCall requires a 2xx and decodes the answer into out; setup retries a few
// times, since it runs against a stack that has just started.
func mustCall(ctx context.Context, method, url, auth string, body, out any) error {
	var last error
	for attempt := 0; attempt < 10; attempt++ {
		status, b, err := call(ctx, method, url, auth, body)
		switch {
		case err != nil:
			last = err
		case status >= 200 && status < 300:
			if out != nil {
				if err := json.Unmarshal(b, out); err != nil {
					return fmt.Errorf("%s %s: %v: %s", method, url, err, b)
				}
			}
			return nil
		case status >= 500:
			last = fmt.Errorf("%s %s: %d %s", method, url, status, strings.TrimSpace(string(b)))
		default:
			return fmt.Errorf("%s %s: %d %s", method, url, status, strings.TrimSpace(string(b)))
		}
		if measure.Sleep(ctx, time.Second) != nil {
			return ctx.Err()
		}
	}
	return last
}

func execOutput(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// seed creates what devseed creates, at soak scale, through the HTTP APIs only:
// the app, page and customer profiles in the simulator; the account, page and
// agents in the starter; agents available.
func (s *soak) seed(ctx context.Context) error {
	cfg := s.cfg
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 1))
	s.appID = "soak-app-" + s.runID
	s.appSecret = randomHex(16)
	s.pageID = fmt.Sprintf("1%014d", rng.Int64N(1e14))
	s.pageToken = "EAAsoak" + randomHex(24)

	sim := func(path string, body any) error { return mustCall(ctx, http.MethodPost, s.simURL+path, "", body, nil) }
	if err := sim("/_sim/apps", map[string]any{"app_id": s.appID, "app_secret": s.appSecret}); err != nil {
		return err
	}
	if err := sim("/_sim/pages", map[string]any{
		"page_id": s.pageID, "name": "Soak Page", "access_token": s.pageToken, "app_id": s.appID,
		"scopes": []string{"pages_messaging", "pages_manage_metadata", "pages_show_list", "pages_read_engagement"},
	}); err != nil {
		return err
	}
	s.customers = newDriver(s, rng)
	for i, c := range s.customers.all {
		// Most customers have a profile; some do not, as on Facebook.
		if i%10 == 9 {
			continue
		}
		if err := sim("/_sim/profiles", map[string]any{"psid": c.psid, "first_name": "Soak", "last_name": fmt.Sprintf("Customer %d", i), "locale": "en_GB"}); err != nil {
			return err
		}
	}

	admin := s.adminToken
	var acc struct {
		ID string `json:"id"`
	}
	if err := mustCall(ctx, http.MethodPost, s.starterURL+"/api/v1/accounts", admin,
		map[string]any{"name": "Soak " + s.runID, "app_id": s.appID, "app_secret": s.appSecret}, &acc); err != nil {
		return err
	}
	s.accountID = acc.ID
	var page struct {
		ID                 string `json:"id"`
		CallbackURL        string `json:"callback_url"`
		ProvisioningStatus string `json:"provisioning_status"`
		LastError          any    `json:"last_error"`
	}
	if err := mustCall(ctx, http.MethodPost, s.starterURL+"/api/v1/accounts/"+acc.ID+"/pages", admin,
		map[string]any{"name": "Soak Page", "page_id": s.pageID, "access_token": s.pageToken}, &page); err != nil {
		return err
	}
	s.pageUUID, s.callbackURL = page.ID, page.CallbackURL
	// The app's webhook, as set in the app dashboard: the simulator echoes every
	// send there, as Facebook does, which settles a send whose answer was lost.
	if err := sim("/_sim/apps", map[string]any{"app_id": s.appID, "app_secret": s.appSecret, "callback_url": s.callbackURL}); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for page.ProvisioningStatus != "active" {
		if time.Now().After(deadline) {
			return fmt.Errorf("page %s is %q after 60s (last_error %v); see the worker's log", s.pageUUID, page.ProvisioningStatus, page.LastError)
		}
		_ = measure.Sleep(ctx, 500*time.Millisecond)
		if err := mustCall(ctx, http.MethodGet, s.starterURL+"/api/v1/pages/"+page.ID, admin, nil, &page); err != nil {
			return err
		}
	}
	logf("account %s, page %s (Facebook page %s) active; callback %s", s.accountID, s.pageUUID, s.pageID, s.callbackURL)

	s.desk = newDesk(s)
	for i := 0; i < cfg.agents; i++ {
		var a struct {
			ID    string `json:"id"`
			Token string `json:"token"`
		}
		if err := mustCall(ctx, http.MethodPost, s.starterURL+"/api/v1/agents", admin, map[string]any{
			"name": fmt.Sprintf("Soak Agent %d", i+1), "email": fmt.Sprintf("agent%d-%s@soak.example", i+1, s.runID), "capacity": cfg.capacity,
		}, &a); err != nil {
			return err
		}
		s.desk.add(a.ID, a.Token, cfg.capacity)
	}
	s.faults = newInjector(s)
	logf("%d agents created (capacity %d each); %d customers", cfg.agents, cfg.capacity, len(s.customers.all))
	return nil
}
