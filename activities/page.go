package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fbchannel/graph"
	"fbchannel/workflows/contract"
)

// requiredScopes are the permissions a page token needs for this channel.
var requiredScopes = []string{"pages_messaging", "pages_manage_metadata"}

// ProvisionPage validates the page's token, reads the page's name and subscribes
// the app to the page's webhooks. Problems an admin must fix become the page's
// status (needs_reauth or failed) with a last_error that says what to do; only
// Facebook being unreachable is an error (and retried).
func (a *Activities) ProvisionPage(ctx context.Context, in contract.PageInput) (contract.PageStatus, error) {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return contract.PageStatus{}, fromStore(err)
	}
	status, lastError, name, expires, err := a.provision(ctx, cred.PageID, cred.AppID, graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		if status, lastError, err = failedPageStatus(err); err != nil {
			return contract.PageStatus{}, err
		}
	}
	if err := a.Store.SetPageStatus(ctx, in.PageUUID, status, lastError, name, expires); err != nil {
		return contract.PageStatus{}, err
	}
	return a.pageStatus(ctx, in.PageUUID, status, lastError, expires)
}

func (a *Activities) provision(ctx context.Context, pageID, appID string, cred graph.Credentials) (status, lastError, name string, expires *time.Time, err error) {
	info, err := a.Graph.DebugToken(ctx, appID, cred.AppSecret, cred.AccessToken)
	if err != nil {
		return "", "", "", nil, err
	}
	switch {
	case !info.IsValid:
		why := "it has expired or was revoked"
		if info.Error != nil && info.Error.Message != "" {
			why = info.Error.Message
		}
		return "needs_reauth", "The page access token is not valid (" + why + "); paste a new Page access token.", "", nil, nil
	case info.AppID != "" && info.AppID != appID:
		return "failed", fmt.Sprintf("The token was issued for app %s, but this account's app is %s.", info.AppID, appID), "", nil, nil
	case info.Type != "PAGE":
		return "failed", fmt.Sprintf("This is a %s token; a Page access token is needed (Messenger settings → Access Tokens).", info.Type), "", nil, nil
	case info.ProfileID != pageID:
		return "failed", fmt.Sprintf("The token belongs to page %s, not to page %s.", info.ProfileID, pageID), "", nil, nil
	}
	var missing []string
	for _, scope := range requiredScopes {
		if !info.HasScope(scope) {
			missing = append(missing, scope)
		}
	}
	if len(missing) > 0 {
		return "failed", "The token lacks the permission(s) " + strings.Join(missing, ", ") + "; generate it again with them granted.", "", nil, nil
	}
	if info.ExpiresAt > 0 {
		t := time.Unix(info.ExpiresAt, 0).UTC()
		expires = &t
	}
	page, err := a.Graph.Page(ctx, pageID, cred)
	if err != nil {
		return "", "", "", nil, err
	}
	if err := a.Graph.SubscribeApp(ctx, pageID, graph.SubscribedFields, cred); err != nil {
		return "", "", "", nil, err
	}
	return "active", "", page.Name, expires, nil
}

func (a *Activities) SetPageStatus(ctx context.Context, in SetPageStatusInput) error {
	return a.Store.SetPageStatus(ctx, in.PageUUID, in.ProvisioningStatus, in.LastError, "", nil)
}

// CheckPageHealth is the scheduled check of an active page: the token is still
// valid, a token that expires is refreshed before it does (where it was derived
// from a user token, by fb_exchange_token), and the app is still subscribed to the
// page — Facebook silently unsubscribes an app after an hour of failed deliveries.
func (a *Activities) CheckPageHealth(ctx context.Context, in contract.PageInput) (contract.PageStatus, error) {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return contract.PageStatus{}, fromStore(err)
	}
	gcred := graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret}
	status, lastError, expires, err := a.checkHealth(ctx, in.PageUUID, cred.PageID, cred.AppID, gcred)
	if err != nil {
		if status, lastError, err = failedPageStatus(err); err != nil {
			return contract.PageStatus{}, err
		}
	}
	if err := a.Store.SetPageStatus(ctx, in.PageUUID, status, lastError, "", expires); err != nil {
		return contract.PageStatus{}, err
	}
	return a.pageStatus(ctx, in.PageUUID, status, lastError, expires)
}

func (a *Activities) checkHealth(ctx context.Context, pageUUID, pageID, appID string, cred graph.Credentials) (status, lastError string, expires *time.Time, err error) {
	info, err := a.Graph.DebugToken(ctx, appID, cred.AppSecret, cred.AccessToken)
	if err != nil {
		return "", "", nil, err
	}
	if !info.IsValid {
		why := "it has expired or was revoked"
		if info.Error != nil && info.Error.Message != "" {
			why = info.Error.Message
		}
		return "needs_reauth", "The page access token is no longer valid (" + why + "); paste a new Page access token.", nil, nil
	}
	if info.ExpiresAt > 0 {
		t := time.Unix(info.ExpiresAt, 0).UTC()
		expires = &t
		if time.Until(t) < contract.TokenRefreshBefore {
			if info.UserID == "" {
				lastError = fmt.Sprintf("The page token expires on %s and cannot be refreshed automatically; paste a new one before then.", t.Format("2006-01-02"))
			} else if fresh, err := a.Graph.ExchangeToken(ctx, appID, cred.AppSecret, cred.AccessToken); err != nil {
				lastError = fmt.Sprintf("The page token expires on %s and refreshing it failed; paste a new one before then.", t.Format("2006-01-02"))
			} else {
				if err := a.Store.RotatePageToken(ctx, pageUUID, fresh.AccessToken); err != nil {
					return "", "", nil, err
				}
				cred.AccessToken = fresh.AccessToken
				refreshed := time.Now().Add(time.Duration(fresh.ExpiresIn) * time.Second).UTC()
				expires = &refreshed
			}
		}
	}
	apps, err := a.Graph.SubscribedApps(ctx, pageID, cred)
	if err != nil {
		return "", "", nil, err
	}
	if !subscribed(apps, appID) {
		if err := a.Graph.SubscribeApp(ctx, pageID, graph.SubscribedFields, cred); err != nil {
			return "", "", nil, err
		}
		if err := a.Store.MarkResubscribed(ctx, pageUUID); err != nil {
			return "", "", nil, err
		}
	}
	return "active", lastError, expires, nil
}

func subscribed(apps []graph.SubscribedApp, appID string) bool {
	for _, app := range apps {
		if app.ID == appID {
			for _, f := range app.SubscribedFields {
				if f == "messages" {
					return true
				}
			}
		}
	}
	return false
}

// pageStatus is what the page workflow keeps (and its query shows).
func (a *Activities) pageStatus(ctx context.Context, pageUUID, status, lastError string, expires *time.Time) (contract.PageStatus, error) {
	out := contract.PageStatus{PageUUID: pageUUID, ProvisioningStatus: status, LastError: lastError, LastHealthCheckAt: time.Now().UTC()}
	if expires != nil {
		out.TokenExpiresAt = *expires
	}
	p, err := a.Store.GetPage(ctx, pageUUID, "")
	if err != nil {
		return out, fromStore(err)
	}
	out.ParkedReplies = p.ParkedReplies
	return out, nil
}

// failedPageStatus is the status a permanent Graph failure leaves a page in:
// needs_reauth when its token is no longer valid, else failed, with the
// readable error. A temporary failure comes back as the error, to be retried.
func failedPageStatus(err error) (status, lastError string, _ error) {
	gerr, ok := graph.AsError(err)
	if !ok || gerr.Temporary() {
		return "", "", fromGraph(err)
	}
	if gerr.Reason() == graph.ReasonTokenInvalid {
		return "needs_reauth", gerr.Readable(), nil
	}
	return "failed", gerr.Readable(), nil
}
