//go:build integration

package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"fbchannel/app/apptest"
	"fbchannel/workflows/contract"
)

// A rollout on Worker Deployment Versioning (README "Rolling out a new build"):
// the old build runs and holds a conversation; the new build is deployed next to
// it and takes nothing until ramped; at 50% both builds serve new conversations
// at once; at the cut-over the new build becomes current and the old one stops,
// and the conversation started on the old build finishes on the new one.
func TestRolloutMovesConversationsToTheNewBuild(t *testing.T) {
	oldBuild, newBuild := "old-"+randomHex(3), "new-"+randomHex(3)
	st := newProgramsStack(t, apptest.Processes{Workers: 1, Starters: 2,
		Env: []string{"WORKER_VERSIONING=true", "WORKER_BUILD_ID=" + oldBuild}})
	ctx := context.Background()
	deployment := temporalClient.WorkerDeploymentClient().GetHandle(st.taskQueue) // named after the task queue

	// The deployment's first versioned build makes itself current: the page
	// provisions and the conversation opens without an operator step.
	psid := "2900000000009001"
	ch, a, events, convID := st.conversationOnNewPage("ada", 50, psid, "Hello from before the rollout")
	first := contract.ConversationWorkflowID(ch.PageID, psid)
	if b, behavior := st.buildOf(first); b != oldBuild || behavior != enumspb.VERSIONING_BEHAVIOR_AUTO_UPGRADE {
		t.Fatalf("conversation on build %q (%v), want %q auto-upgrade", b, behavior, oldBuild)
	}

	// The new build deployed: it polls, and the old build stays current.
	if _, err := st.app.StartWorkerProcess(ctx, "WORKER_BUILD_ID="+newBuild); err != nil {
		t.Fatal(err)
	}
	st.eventually("the new build is a version of the deployment", 30*time.Second, func() bool {
		return slices.Contains(st.deploymentBuilds(deployment), newBuild)
	})
	if d, err := deployment.Describe(ctx, client.WorkerDeploymentDescribeOptions{}); err != nil || d.Info.RoutingConfig.CurrentVersion == nil || d.Info.RoutingConfig.CurrentVersion.BuildID != oldBuild {
		t.Fatalf("after the new build started, the current version is %+v (%v), want %s", d.Info.RoutingConfig.CurrentVersion, err, oldBuild)
	}

	// Ramped to 50%: new customers' conversations land on both builds. The server
	// refuses the ramp until the new build has registered every task queue type
	// the old one polls (workflow and activity), a moment after it started.
	st.eventually("the ramp is accepted", 30*time.Second, func() bool {
		_, err := deployment.SetRampingVersion(ctx, client.WorkerDeploymentSetRampingVersionOptions{BuildID: newBuild, Percentage: 50})
		return err == nil
	})
	seen := map[string]int{}
	for i := 0; seen[oldBuild] == 0 || seen[newBuild] == 0; i++ {
		if i == 30 { // a 50% ramp leaves one build out of 30 with odds of 2^-29
			t.Fatalf("30 conversations during the ramp ran on %v, want both builds", seen)
		}
		p := fmt.Sprintf("29000000000091%02d", i)
		st.customerSays(ch, p, "Hello during the ramp", "")
		b, _ := st.buildOf(contract.ConversationWorkflowID(ch.PageID, p))
		seen[b]++
	}
	t.Logf("conversations opened during the 50%% ramp, per build: %v", seen)

	// The cut-over: the new build current, the old build stopped.
	if _, err := deployment.SetCurrentVersion(ctx, client.WorkerDeploymentSetCurrentVersionOptions{BuildID: newBuild}); err != nil {
		t.Fatal(err)
	}
	st.app.Workers[0].Stop(30 * time.Second)

	// The conversation the old build started finishes on the new one.
	st.agentSends(a, convID, "Answered after the rollout")
	st.agentCloses(a, convID)
	if closed := events.next(t, "conversation.closed", 30*time.Second); closed.Data["conversation_id"] != convID {
		t.Fatalf("closed event: %v", closed.Data)
	}
	if b, _ := st.buildOf(first); b != newBuild {
		t.Fatalf("the conversation's last task ran on %q, want the new build %q", b, newBuild)
	}
	// And the page's next customer is served by the new build alone.
	st.customerSays(ch, "2900000000009002", "Hello after the rollout", "")
	if b, _ := st.buildOf(contract.ConversationWorkflowID(ch.PageID, "2900000000009002")); b != newBuild {
		t.Fatalf("a conversation opened after the cut-over ran on %q, want %q", b, newBuild)
	}
}

// buildOf waits for the workflow's first completed task and answers the build
// that completed its latest one, with its versioning behavior.
func (st *stack) buildOf(workflowID string) (build string, behavior enumspb.VersioningBehavior) {
	st.t.Helper()
	st.eventually("workflow "+workflowID+" ran a task on a versioned worker", 30*time.Second, func() bool {
		d, err := temporalClient.DescribeWorkflowExecution(context.Background(), workflowID, "")
		if err != nil {
			return false
		}
		v := d.GetWorkflowExecutionInfo().GetVersioningInfo()
		build, behavior = v.GetDeploymentVersion().GetBuildId(), v.GetBehavior()
		return build != ""
	})
	return build, behavior
}

// deploymentBuilds are the build ids the worker deployment knows.
func (st *stack) deploymentBuilds(h client.WorkerDeploymentHandle) []string {
	d, err := h.Describe(context.Background(), client.WorkerDeploymentDescribeOptions{})
	if err != nil {
		return nil
	}
	var builds []string
	for _, v := range d.Info.VersionSummaries {
		builds = append(builds, v.Version.BuildID)
	}
	return builds
}
