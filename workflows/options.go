package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// backoff retries after initial, doubling the wait up to maxInterval, at most
// attempts times (0: until the activity succeeds or fails permanently).
func backoff(initial, maxInterval time.Duration, attempts int32) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    initial,
		BackoffCoefficient: 2,
		MaximumInterval:    maxInterval,
		MaximumAttempts:    attempts,
	}
}

// Postgres calls are retried until the database is back: a conversation must not
// lose a customer's message because the database restarted. Only typed permanent
// failures (see activities) stop the retries.
func withDatabaseActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second, RetryPolicy: backoff(500*time.Millisecond, 30*time.Second, 0),
	})
}

// Short, idempotent Postgres calls on the path of a customer's message run as local
// activities: in the workflow task that needs them, with no activity task of their
// own to schedule, dispatch and report (three history events and a round trip to
// the server fewer). Retried as withDatabaseActivity's; a local activity that
// outlasts the workflow task is kept alive by the SDK (task heartbeats), and long
// retry waits become timers.
func withDatabaseLocalActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 15 * time.Second, RetryPolicy: backoff(500*time.Millisecond, 30*time.Second, 0),
	})
}

// The close (its notices, the close, the queues' wake-up: see
// activities.CloseConversation) is retried as a database call, until it is
// done: a conversation must not stay open because Facebook or the database
// failed for a while. Its notices give up after a few attempts by themselves.
func withCloseActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute, RetryPolicy: backoff(500*time.Millisecond, 30*time.Second, 0),
	})
}

// A send is retried a few times for Facebook's transient errors, then reported to
// the agent: an agent waits on the answer, so retrying for ever is worse than a
// clear failure they can act on.
func withSendActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, RetryPolicy: backoff(time.Second, 10*time.Second, 4),
	})
}

// withSendLocalActivity is withSendActivity's policy for a local activity (the
// service's notices: short, and idempotent on the notice's id).
func withSendLocalActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second, RetryPolicy: backoff(time.Second, 10*time.Second, 4),
	})
}

// Profile lookups and provisioning calls to the Graph API: a few tries, then the
// workflow falls back or records a readable failure.
func withGraphActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second, RetryPolicy: backoff(time.Second, 30*time.Second, 5),
	})
}

// failureOf turns an activity error into the stable reason and readable sentence
// the agent sees. Activities fail permanently with an ApplicationError whose type is
// the reason (window_closed, user_unavailable, ...) and whose message is the sentence.
func failureOf(err error) (reason, message string) {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() != "" {
		return appErr.Type(), appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "transient", "Facebook did not answer in time; please try again."
	}
	return "transient", "The message could not be sent because of a temporary problem; please try again."
}

// The profile gets two quick tries: a customer without a profile is better than a
// customer kept waiting (when routing looks at the locale, routing waits for it).
// A local activity, beside the greeting in the opening's workflow task: one Graph
// call and one idempotent write, which cost the conversation one marker instead
// of an activity's three events and the workflow task its completion needs. It
// holds that task no longer than the greeting's send already does.
func withProfileLocalActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second, RetryPolicy: backoff(time.Second, time.Second, 2),
	})
}

// A bot is asked a few times quickly; after that a person takes over.
func withBotActivity(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second, RetryPolicy: backoff(time.Second, 2*time.Second, 3),
	})
}
