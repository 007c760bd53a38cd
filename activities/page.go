package activities

import (
	"context"
	"fmt"
	"strings"
	"time"

	"fbchannel/graph"
	"fbchannel/workflows"
)

// requiredScopes are the permissions a page token needs for this channel.
var requiredScopes = []string{"pages_messaging", "pages_manage_metadata"}

// ProvisionPage validates the page's token, reads the page's name and subscribes
// the app to the page's webhooks. Problems an admin must fix become the page's
// status (needs_reauth or failed) with a last_error that says what to do; only
// Facebook being unreachable is an error (and retried).
func (a *Activities) ProvisionPage(ctx context.Context, in workflows.PageInput) (workflows.PageStatus, error) {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return workflows.PageStatus{}, fromStore(err)
	}
	status, lastError, name, expires, err := a.provision(ctx, cred.PageID, cred.AppID, graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		gerr, ok := graph.AsError(err)
		if !ok || gerr.Temporary() {
			return workflows.PageStatus{}, fromGraph(err)
		}
		status, lastError = "failed", gerr.Readable()
		if gerr.Reason() == graph.ReasonTokenInvalid {
			status = "needs_reauth"
		}
	}
	if err := a.Store.SetPageStatus(ctx, in.PageUUID, status, lastError, name, expires); err != nil {
		return workflows.PageStatus{}, err
	}
	return workflows.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: status, LastError: lastError}, nil
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

func (a *Activities) SetPageStatus(ctx context.Context, in workflows.SetPageStatusInput) error {
	return a.Store.SetPageStatus(ctx, in.PageUUID, in.ProvisioningStatus, in.LastError, "", nil)
}
