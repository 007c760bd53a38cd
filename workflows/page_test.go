package workflows_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"fbchannel/activities"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// pageFixture is a PageWorkflow with its activities stubbed.
type pageFixture struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	log *activityLog

	provisionPage     func(contract.PageInput) (contract.PageStatus, error)
	setPageStatus     func(activities.SetPageStatusInput) error
	resumeParkedSends func(contract.PageInput) error
	checkPageHealth   func(contract.PageInput) (contract.PageStatus, error)
}

func newPage(t *testing.T) *pageFixture {
	f := &pageFixture{t: t, env: newTestEnv(t), log: &activityLog{}}
	f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active"}, nil
	}
	f.setPageStatus = func(activities.SetPageStatusInput) error { return nil }
	f.resumeParkedSends = func(contract.PageInput) error { return nil }
	f.checkPageHealth = func(in contract.PageInput) (contract.PageStatus, error) {
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active", LastHealthCheckAt: f.env.Now()}, nil
	}
	stub(f.env, f.log, a.ProvisionPage, &f.provisionPage)
	stub(f.env, f.log, a.CheckPageHealth, &f.checkPageHealth)
	stubErr(f.env, f.log, a.SetPageStatus, &f.setPageStatus)
	stubErr(f.env, f.log, a.ResumeParkedSends, &f.resumeParkedSends)
	return f
}

func (f *pageFixture) at(d time.Duration, fn func()) { f.env.RegisterDelayedCallback(fn, d) }

func (f *pageFixture) state() contract.PageStatus {
	f.t.Helper()
	return queryState[contract.PageStatus](f.t, f.env)
}

// run starts the page workflow and ends it at endAt the way Temporal would: by
// suggesting continue-as-new, which the workflow acts on at its next signal.
func (f *pageFixture) run(endAt time.Duration) {
	f.t.Helper()
	f.at(endAt, func() {
		f.env.SetContinueAsNewSuggested(true)
		f.env.SignalWorkflow(contract.SignalTokenInvalid, contract.TokenInvalid{LastError: "ending the test"})
	})
	f.env.ExecuteWorkflow(workflows.PageWorkflow, contract.PageInput{PageUUID: testPageUUID})
	var can *workflow.ContinueAsNewError
	if err := f.env.GetWorkflowError(); !errors.As(err, &can) {
		f.t.Fatalf("page workflow ended with %v, want continue-as-new", err)
	}
}

func TestPageProvisioningFailureIsRecordedAndReprovisionTriesAgain(t *testing.T) {
	f := newPage(t)
	facebookDown := true
	f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
		if facebookDown {
			return contract.PageStatus{}, temporal.NewApplicationError("Facebook could not be reached; please try again.", "transient", nil)
		}
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active"}, nil
	}
	var failed, active contract.PageStatus
	var attemptsWhileDown int
	f.at(time.Hour, func() {
		failed = f.state()
		attemptsWhileDown = count(f.log.names(), a.ProvisionPage)
		facebookDown = false
		f.env.SignalWorkflow(contract.SignalReprovision, struct{}{})
	})
	f.at(2*time.Hour, func() { active = f.state() })
	f.run(3 * time.Hour)

	if attemptsWhileDown < 2 {
		t.Errorf("ProvisionPage tried %d times before giving up, want retries", attemptsWhileDown)
	}
	wantLastError := "Provisioning failed: Facebook could not be reached; please try again."
	statuses := inputsOf[activities.SetPageStatusInput](f.log, a.SetPageStatus)
	if want := []activities.SetPageStatusInput{{PageUUID: testPageUUID, ProvisioningStatus: "failed", LastError: wantLastError}}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("SetPageStatus inputs %+v, want %+v", statuses, want)
	}
	if want := (contract.PageStatus{PageUUID: testPageUUID, ProvisioningStatus: "failed", LastError: wantLastError}); failed != want {
		t.Errorf("state after the failure %+v, want %+v", failed, want)
	}
	if active.ProvisioningStatus != "active" || active.LastError != "" {
		t.Errorf("state after reprovisioning %+v, want active", active)
	}
	if n := count(f.log.names(), a.ProvisionPage); n != attemptsWhileDown+1 {
		t.Errorf("ProvisionPage called %d times, want the reprovision to call it once more", n)
	}
	for _, in := range inputsOf[contract.PageInput](f.log, a.ProvisionPage) {
		if in != (contract.PageInput{PageUUID: testPageUUID}) {
			t.Errorf("ProvisionPage input %+v", in)
		}
	}
	// Replies parked while the page was down go out once it is active, not before.
	if resumes := inputsOf[contract.PageInput](f.log, a.ResumeParkedSends); !reflect.DeepEqual(resumes, []contract.PageInput{{PageUUID: testPageUUID}}) {
		t.Errorf("ResumeParkedSends inputs %+v, want one call after the successful provisioning", resumes)
	}
}

// ProvisionPage itself decides needs_reauth (a bad token): nothing to add to the
// database, and no parked reply can go out.
func TestPageNeedingReauthIsNotResumed(t *testing.T) {
	f := newPage(t)
	f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "needs_reauth", LastError: "The page's token is invalid."}, nil
	}
	var st contract.PageStatus
	f.at(time.Hour, func() { st = f.state() })
	f.run(2 * time.Hour)

	if st.ProvisioningStatus != "needs_reauth" || st.LastError != "The page's token is invalid." {
		t.Errorf("state %+v", st)
	}
	names := f.log.names()
	if count(names, a.SetPageStatus) != 0 || count(names, a.ResumeParkedSends) != 0 {
		t.Errorf("activities %v, want only ProvisionPage", names)
	}
}

func TestPageTokenInvalidSignalShowsNeedsReauth(t *testing.T) {
	f := newPage(t)
	var st contract.PageStatus
	f.at(time.Hour, func() {
		f.env.SignalWorkflow(contract.SignalTokenInvalid, contract.TokenInvalid{LastError: "Error validating access token (190/460)."})
	})
	f.at(2*time.Hour, func() { st = f.state() })
	f.run(3 * time.Hour)

	if want := (contract.PageStatus{PageUUID: testPageUUID, ProvisioningStatus: "needs_reauth", LastError: "Error validating access token (190/460)."}); st != want {
		t.Errorf("state %+v, want %+v", st, want)
	}
	if n := count(f.log.names(), a.ProvisionPage); n != 1 {
		t.Errorf("ProvisionPage called %d times, want 1: a token-invalid signal does not provision", n)
	}
}

// Reprovision signals that arrive together (in one workflow task) provision once.
func TestPageReprovisionSignalsTogetherProvisionOnce(t *testing.T) {
	f := newPage(t)
	f.at(time.Hour, func() {
		f.env.SignalWorkflowSkippingWorkflowTask(contract.SignalReprovision, struct{}{})
		f.env.SignalWorkflow(contract.SignalReprovision, struct{}{})
	})
	var n int
	f.at(2*time.Hour, func() { n = count(f.log.names(), a.ProvisionPage) })
	f.run(3 * time.Hour)

	if n != 2 {
		t.Errorf("ProvisionPage called %d times, want 2 (start + one for both signals)", n)
	}
}

// An active page's token and subscription are checked daily; a failed page waits
// for an admin instead.
func TestPageHealthIsCheckedDailyWhileActive(t *testing.T) {
	for _, tc := range []struct {
		status string
		checks int
	}{{"active", 3}, {"failed", 0}} {
		t.Run(tc.status, func(t *testing.T) {
			f := newPage(t)
			f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
				return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: tc.status}, nil
			}
			f.run(3*24*time.Hour + time.Hour)

			if n := count(f.log.names(), a.CheckPageHealth); n != tc.checks {
				t.Errorf("CheckPageHealth called %d times in 3 days, want %d", n, tc.checks)
			}
		})
	}
}

// A token that expires is checked (and refreshed) before it does, not a day late.
func TestPageHealthCheckComesBeforeTokenRefreshDeadline(t *testing.T) {
	f := newPage(t)
	expires := testStart.Add(contract.TokenRefreshBefore + 6*time.Hour)
	f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active", TokenExpiresAt: expires}, nil
	}
	var checkedAt []time.Time
	f.checkPageHealth = func(in contract.PageInput) (contract.PageStatus, error) {
		checkedAt = append(checkedAt, f.env.Now())
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active"}, nil
	}
	f.run(12 * time.Hour)

	if want := testStart.Add(6 * time.Hour); len(checkedAt) != 1 || !checkedAt[0].Equal(want) {
		t.Errorf("health checked at %v, want once at %v (when the token is due for refresh)", checkedAt, want)
	}
}

// Sixty days of a page whose user-derived token lasts 60 days: it is checked at
// least daily, refreshed before it expires every time (the activity refreshes once
// the token is within TokenRefreshBefore of expiry), and never lapses.
func TestPageTokenIsRefreshedOverSixtyDays(t *testing.T) {
	f := newPage(t)
	const lifetime = 60 * 24 * time.Hour
	expires := testStart.Add(20 * 24 * time.Hour)
	f.provisionPage = func(in contract.PageInput) (contract.PageStatus, error) {
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active", TokenExpiresAt: expires}, nil
	}
	var checks []time.Time
	refreshes := 0
	f.checkPageHealth = func(in contract.PageInput) (contract.PageStatus, error) {
		now := f.env.Now()
		if now.After(expires) {
			t.Errorf("the token lapsed at %v before the check at %v", expires, now)
		}
		checks = append(checks, now)
		if expires.Sub(now) < contract.TokenRefreshBefore {
			expires = now.Add(lifetime) // what fb_exchange_token gives
			refreshes++
		}
		return contract.PageStatus{PageUUID: in.PageUUID, ProvisioningStatus: "active", TokenExpiresAt: expires, LastHealthCheckAt: now}, nil
	}
	f.run(lifetime)

	if refreshes < 1 {
		t.Fatalf("the token was never refreshed in 60 days")
	}
	last := testStart
	for _, at := range checks {
		if gap := at.Sub(last); gap > contract.PageHealthCheckInterval {
			t.Fatalf("%v between health checks (at %v), more than a day", gap, at)
		}
		last = at
	}
	if len(checks) < 59 {
		t.Fatalf("%d health checks in 60 days", len(checks))
	}
	if st := f.state(); !st.TokenExpiresAt.Equal(expires) || st.LastHealthCheckAt.IsZero() {
		t.Fatalf("page state after 60 days: %+v", st)
	}
}
