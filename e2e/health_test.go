//go:build integration

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"fbchannel/activities"
	"fbchannel/graph"
	"fbchannel/simulator"
	"fbchannel/workflows/contract"
)

// The scheduled health check (run here directly; its daily timer is covered by the
// workflow tests) re-subscribes an app Facebook unsubscribed, refreshes a
// user-derived token before it expires, and warns about one it cannot refresh.
func TestPageHealthCheckResubscribesAndRefreshesTokens(t *testing.T) {
	st, ch := newPageStack(t)
	gc := graph.New(st.simURL, "v23.0", nil)
	acts := &activities.Activities{Store: st.store, Graph: gc, Temporal: temporalClient, TaskQueue: st.taskQueue}
	ctx := context.Background()

	// Facebook silently unsubscribed the app.
	if err := gc.UnsubscribeApp(ctx, ch.PageID, graph.Credentials{AccessToken: ch.PageToken, AppSecret: ch.AppSecret}); err != nil {
		t.Fatal(err)
	}
	st.sim.ClearRequests()
	got, err := acts.CheckPageHealth(ctx, contract.PageInput{PageUUID: ch.PageUUID})
	if err != nil || got.ProvisioningStatus != "active" {
		t.Fatalf("health check: %+v %v", got, err)
	}
	var resubscribed bool
	for _, r := range st.sim.Requests("/subscribed_apps") {
		resubscribed = resubscribed || (r.Method == "POST" && strings.Contains(r.Query["subscribed_fields"], "messages"))
	}
	if !resubscribed {
		t.Fatalf("the app was not subscribed again: %+v", st.sim.Requests("/subscribed_apps"))
	}
	var shown map[string]any
	st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &shown)
	if shown["resubscribed_at"] == nil {
		t.Fatalf("the page does not show the re-subscription: %v", shown)
	}

	// A user-derived token 5 days from expiry is exchanged for a fresh one, which
	// the next send uses.
	expiring := "EAAB" + randomHex(20)
	st.sim.RegisterPage(simulator.Page{PageID: ch.PageID, Name: "Test Page", AccessToken: expiring, AppID: ch.AppID,
		ExpiresAt: time.Now().Add(5 * 24 * time.Hour).Unix(), UserDerived: true})
	if err := st.store.RotatePageToken(ctx, ch.PageUUID, expiring); err != nil {
		t.Fatal(err)
	}
	got, err = acts.CheckPageHealth(ctx, contract.PageInput{PageUUID: ch.PageUUID})
	if err != nil || got.ProvisioningStatus != "active" || got.LastError != "" || time.Until(got.TokenExpiresAt) < 50*24*time.Hour {
		t.Fatalf("refresh: %+v %v", got, err)
	}
	if len(st.sim.Requests("/oauth/access_token")) != 1 {
		t.Fatalf("no token exchange")
	}
	cred, err := st.store.PageCredentials(ctx, st.db, ch.PageUUID)
	if err != nil || cred.AccessToken == expiring || cred.AccessToken == ch.PageToken {
		t.Fatalf("token not rotated: %v", err)
	}

	// A page token that expires and was not derived from a user token: a warning.
	fixed := "EAAB" + randomHex(20)
	st.sim.RegisterPage(simulator.Page{PageID: ch.PageID, Name: "Test Page", AccessToken: fixed, AppID: ch.AppID,
		ExpiresAt: time.Now().Add(3 * 24 * time.Hour).Unix()})
	if err := st.store.RotatePageToken(ctx, ch.PageUUID, fixed); err != nil {
		t.Fatal(err)
	}
	got, err = acts.CheckPageHealth(ctx, contract.PageInput{PageUUID: ch.PageUUID})
	if err != nil || got.ProvisioningStatus != "active" || !strings.Contains(got.LastError, "expires") {
		t.Fatalf("expiring token: %+v %v", got, err)
	}
	var page map[string]any
	st.call("GET", "/api/v1/pages/"+ch.PageUUID, st.adminToken, nil, &page)
	if w, _ := page["warning"].(string); !strings.Contains(w, "expires") || page["token_expires_at"] == nil || page["last_health_check_at"] == nil {
		t.Fatalf("page view: %v", page)
	}

	// A revoked token makes the page need re-authorisation.
	st.sim.RevokeToken(fixed, 460)
	got, err = acts.CheckPageHealth(ctx, contract.PageInput{PageUUID: ch.PageUUID})
	if err != nil || got.ProvisioningStatus != "needs_reauth" {
		t.Fatalf("revoked: %+v %v", got, err)
	}
}
