package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// PageWorkflow provisions one connected page and keeps its status: it validates the
// token, subscribes the app to the page's webhooks and records `active`, or `failed`
// / `needs_reauth` with a last_error an admin can act on. A replaced token
// (reprovision signal) provisions again.
func PageWorkflow(ctx workflow.Context, in PageInput) error {
	status := PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "pending"}
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (PageStatus, error) { return status, nil }); err != nil {
		return err
	}
	reprovision := workflow.GetSignalChannel(ctx, SignalReprovision)
	for {
		var got PageStatus
		err := workflow.ExecuteActivity(withGraphActivity(ctx), ActivityProvisionPage, in).Get(ctx, &got)
		if err != nil {
			// Facebook stayed unreachable through every retry: say so instead of
			// leaving the page pending.
			_, message := failureOf(err)
			got = PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "failed", LastError: "Provisioning failed: " + message}
			if err := workflow.ExecuteActivity(withDatabaseActivity(ctx), ActivitySetPageStatus, SetPageStatusInput{
				PageUUID: in.PageUUID, ProvisioningStatus: got.ProvisioningStatus, LastError: got.LastError,
			}).Get(ctx, nil); err != nil {
				return err
			}
		}
		status = got
		reprovision.Receive(ctx, nil)
		for reprovision.ReceiveAsync(nil) {
		}
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			return workflow.NewContinueAsNewError(ctx, PageWorkflow, in)
		}
	}
}
