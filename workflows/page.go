package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows/contract"
)

// PageWorkflow provisions one connected page and keeps its status: it validates the
// token, subscribes the app to the page's webhooks and records `active`, or `failed`
// / `needs_reauth` with a last_error an admin can act on. A replaced token
// (reprovision signal) provisions again, and once the page is active the replies
// parked while it was not are sent. An activity that meets error 190 tells it at
// once (token-invalid signal).
func PageWorkflow(ctx workflow.Context, in contract.PageInput) error {
	p := &page{PageStatus: contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "pending"}}
	if err := workflow.SetQueryHandler(ctx, contract.QueryState, func() (contract.PageStatus, error) { return p.PageStatus, nil }); err != nil {
		return err
	}
	reprovision := workflow.GetSignalChannel(ctx, contract.SignalReprovision)
	tokenInvalid := workflow.GetSignalChannel(ctx, contract.SignalTokenInvalid)
	deletion := workflow.GetSignalChannel(ctx, contract.SignalDeletePage)
	provision := true // every run starts by provisioning: the signal that asked for it may be why it continued-as-new
	deleting := false
	// The signal-with-start that began this run asked for the provisioning that
	// follows anyway: consume it, or the page would be provisioned twice.
	for reprovision.ReceiveAsync(nil) {
	}
	for {
		if deleting || deletion.ReceiveAsync(nil) {
			// Signals that arrive during the saga have nothing left to act on.
			return p.deletePage(ctx)
		}
		if provision {
			if err := p.provision(ctx); err != nil {
				return err
			}
			provision = false
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			// Undrained signals would be lost. A token-invalid is already in Postgres
			// and the next run provisions first, which covers a reprovision too.
			for reprovision.ReceiveAsync(nil) {
			}
			for tokenInvalid.ReceiveAsync(nil) {
			}
			if deletion.ReceiveAsync(nil) {
				return p.deletePage(ctx)
			}
			return workflow.NewContinueAsNewError(ctx, PageWorkflow, in)
		}
		sel := workflow.NewSelector(ctx)
		timerCtx, cancelTimer := workflow.WithCancel(ctx)
		sel.AddFuture(workflow.NewTimer(timerCtx, p.nextHealthCheck(workflow.Now(ctx))), func(f workflow.Future) {
			if f.Get(ctx, nil) == nil {
				p.checkHealth(ctx)
			}
		})
		sel.AddReceive(reprovision, func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			for ch.ReceiveAsync(nil) {
			}
			provision = true
		})
		sel.AddReceive(deletion, func(ch workflow.ReceiveChannel, _ bool) {
			ch.Receive(ctx, nil)
			deleting = true
		})
		sel.AddReceive(tokenInvalid, func(ch workflow.ReceiveChannel, _ bool) {
			var t contract.TokenInvalid
			ch.Receive(ctx, &t)
			// The activity that met error 190 already recorded it in Postgres.
			p.ProvisioningStatus, p.LastError = "needs_reauth", t.LastError
		})
		sel.Select(ctx)
		cancelTimer()
	}
}

// nextHealthCheck is daily, or earlier when the token must be refreshed sooner.
func (p *page) nextHealthCheck(now time.Time) time.Duration {
	next := contract.PageHealthCheckInterval
	if !p.TokenExpiresAt.IsZero() {
		if untilRefresh := p.TokenExpiresAt.Add(-contract.TokenRefreshBefore).Sub(now); untilRefresh < next {
			next = untilRefresh
		}
	}
	if next < time.Hour {
		next = time.Hour // a refresh that keeps failing is retried hourly, not in a loop
	}
	return next
}

// checkHealth runs the scheduled token and subscription check on an active page.
// A check that cannot reach Facebook is simply tried again at the next one.
func (p *page) checkHealth(ctx workflow.Context) {
	if p.ProvisioningStatus != "active" {
		return // pending/failed/needs_reauth pages wait for an admin's new token
	}
	var got contract.PageStatus
	if err := workflow.ExecuteActivity(withGraphActivity(ctx), a.CheckPageHealth, contract.PageInput{PageUUID: p.PageUUID}).Get(ctx, &got); err == nil {
		p.PageStatus = got
	}
}

type page struct {
	contract.PageStatus
}

func (p *page) provision(ctx workflow.Context) error {
	var got contract.PageStatus
	err := workflow.ExecuteActivity(withGraphActivity(ctx), a.ProvisionPage, contract.PageInput{PageUUID: p.PageUUID}).Get(ctx, &got)
	if err != nil {
		// Facebook stayed unreachable through every retry: say so instead of
		// leaving the page pending.
		_, message := failureOf(err)
		got = contract.PageStatus{PageUUID: p.PageUUID, ProvisioningStatus: "failed", LastError: "Provisioning failed: " + message}
		if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), a.SetPageStatus, activities.SetPageStatusInput{
			PageUUID: p.PageUUID, ProvisioningStatus: got.ProvisioningStatus, LastError: got.LastError,
		}).Get(ctx, nil); err != nil {
			return err
		}
	}
	p.PageStatus = got
	if got.ProvisioningStatus != "active" {
		return nil
	}
	return workflow.ExecuteActivity(withDatabaseActivity(ctx), a.ResumeParkedSends, contract.PageInput{PageUUID: p.PageUUID}).Get(ctx, nil)
}
