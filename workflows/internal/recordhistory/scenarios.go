package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"fbchannel/app/apptest"
	"fbchannel/calendar"
	"fbchannel/workflows/contract"
)

// The scenarios past the main story: the paths a workstream's rules open (states,
// offers, the rules before queueing, timeouts, affinity). Each runs on a page of
// its own, so its rules and its agents touch no other scenario.

// scene is one scenario's account and page.
type scene struct {
	apptest.Page
	workstreamID string
}

// newScene connects a page whose workstream has the rules, with no agent in its
// default queue yet: every agent joins a new default queue, so the earlier
// scenarios' agents leave it, and newAgent's agents join only this one.
func (r *recorder) newScene(ctx context.Context, name string, rules map[string]any) (scene, error) {
	p, err := r.stack.ConnectPage(ctx, name)
	s := scene{Page: p}
	if err != nil {
		return s, err
	}
	var page struct {
		WorkstreamID string `json:"workstream_id"`
	}
	if err := r.admin(ctx, "GET", "/api/v1/pages/"+p.PageUUID, 200, nil, &page); err != nil {
		return s, err
	}
	s.workstreamID = page.WorkstreamID
	if _, err := r.db.ExecContext(ctx, `DELETE FROM queue_members WHERE queue_id = $1`, p.QueueID); err != nil {
		return s, err
	}
	return s, r.setRules(ctx, s, rules)
}

// setRules changes the scene's workstream.
func (r *recorder) setRules(ctx context.Context, s scene, rules map[string]any) error {
	return r.admin(ctx, "PATCH", "/api/v1/workstreams/"+s.workstreamID, 200, rules, nil)
}

// sceneAgent is an available agent of the scene's queue only.
func (r *recorder) sceneAgent(ctx context.Context, s scene, name string, capacity int) (agent, error) {
	a, err := r.newAgent(ctx, name, capacity)
	if err != nil {
		return a, err
	}
	_, err = r.db.ExecContext(ctx, `DELETE FROM queue_members WHERE agent_id = $1 AND queue_id <> $2`, a.ID, s.QueueID)
	return a, err
}

// customerConversation has the customer write and waits for the conversation to
// have the status.
func (r *recorder) customerConversation(ctx context.Context, s scene, psid, text, status string) (recordedRun, error) {
	if err := r.customerSays(ctx, s.Page, psid, text, ""); err != nil {
		return recordedRun{}, err
	}
	return r.conversationRun(ctx, s.PageID, psid, status)
}

// wrapUp: the agent ends a conversation into a wrap-up that blocks its capacity
// until it finishes it; then one that ends by itself after its seconds.
func (r *recorder) wrapUp(ctx context.Context) error {
	s, err := r.newScene(ctx, "Wrap-up", map[string]any{"wrap_up": map[string]any{"block": "always"}})
	if err != nil {
		return err
	}
	cy, err := r.sceneAgent(ctx, s, "cy", 1)
	if err != nil {
		return err
	}
	ended, err := r.endConversation(ctx, s, cy, "3700000000000001")
	if err != nil {
		return err
	}
	r.keep("conversation-ended", ended)
	finished := recordedRun{workflowID: contract.WrapUpWorkflowID(ended.runID)}
	if err := r.act(ctx, cy, ended.runID, "wrap-up/finish", map[string]any{"note": "refund issued"}); err != nil {
		return err
	}
	if err := r.completed(ctx, finished); err != nil {
		return err
	}
	r.keep("wrap-up", finished)

	if err := r.setRules(ctx, s, map[string]any{"wrap_up": map[string]any{"block": "seconds", "seconds": 1}}); err != nil {
		return err
	}
	timedOut, err := r.endConversation(ctx, s, cy, "3700000000000002")
	if err != nil {
		return err
	}
	timed := recordedRun{workflowID: contract.WrapUpWorkflowID(timedOut.runID)}
	if err := r.completed(ctx, timed); err != nil {
		return err
	}
	r.keep("wrap-up-timed", timed)
	return nil
}

// endConversation has a customer's conversation assigned to the agent, who ends
// it (with a disposition): its run completes, its wrap-up begins.
func (r *recorder) endConversation(ctx context.Context, s scene, a agent, psid string) (recordedRun, error) {
	run, err := r.customerConversation(ctx, s, psid, "my order is late", "assigned")
	if err != nil {
		return run, err
	}
	if err := r.act(ctx, a, run.runID, "end", map[string]any{"disposition": "resolved"}); err != nil {
		return run, err
	}
	return run, r.completed(ctx, run)
}

// hold: on hold, the customer's message brings the conversation back to its agent
// (who has room); on hold again, the agent takes another conversation, and the
// customer's message waits for the hold-return timeout, after which the
// conversation is routed again and assigned once the agent has room. Then it is
// transferred to another agent, who closes it.
func (r *recorder) hold(ctx context.Context) error {
	s, err := r.newScene(ctx, "Hold", map[string]any{"hold_return_s": 1})
	if err != nil {
		return err
	}
	amy, err := r.sceneAgent(ctx, s, "amy", 1)
	if err != nil {
		return err
	}
	const held, other = "3700000000000011", "3700000000000012"
	run, err := r.customerConversation(ctx, s, held, "my order is late", "assigned")
	if err != nil {
		return err
	}
	r.keep("conversation-hold", run)
	if err := r.holdRun(ctx, amy, run); err != nil {
		return err
	}
	if _, err := r.customerConversation(ctx, s, held, "are you there?", "assigned"); err != nil {
		return err
	}
	if err := r.holdRun(ctx, amy, run); err != nil {
		return err
	}
	// Held, it frees amy's one unit: the next customer is hers.
	busy, err := r.customerConversation(ctx, s, other, "a question about billing", "assigned")
	if err != nil {
		return err
	}
	if _, err := r.customerConversation(ctx, s, held, "still waiting for the parcel", "waiting"); err != nil {
		return err
	}
	if err := r.closeRun(ctx, amy, busy); err != nil {
		return err
	}
	if err := r.assignedTo(ctx, run, amy); err != nil {
		return err
	}
	bo, err := r.sceneAgent(ctx, s, "bo", 1)
	if err != nil {
		return err
	}
	if err := r.act(ctx, amy, run.runID, "transfer", map[string]any{"agent_id": bo.ID, "note": "bo knows parcels"}); err != nil {
		return err
	}
	if err := r.assignedTo(ctx, run, bo); err != nil {
		return err
	}
	return r.closeRun(ctx, bo, run)
}

// holdRun has the agent put the conversation on hold, and waits for its run to know.
func (r *recorder) holdRun(ctx context.Context, a agent, run recordedRun) error {
	if err := r.act(ctx, a, run.runID, "hold", nil); err != nil {
		return err
	}
	return r.runKnows(ctx, run, "on_hold", "")
}

// offers: the conversation is offered to an agent who declines, to one who lets
// the countdown run out, and to one who accepts.
func (r *recorder) offers(ctx context.Context) error {
	s, err := r.newScene(ctx, "Offers", map[string]any{"offer": map[string]any{"auto_accept": false, "countdown_s": 3}})
	if err != nil {
		return err
	}
	agents := map[string]agent{}
	for _, name := range []string{"ann", "bob", "cyd"} {
		a, err := r.sceneAgent(ctx, s, name, 1)
		if err != nil {
			return err
		}
		agents[a.ID] = a
	}
	run, err := r.customerConversation(ctx, s, "3700000000000021", "where is my parcel?", "offered")
	if err != nil {
		return err
	}
	r.keep("conversation-offer", run)
	var offered []string
	for range 3 {
		id, err := r.offeredToAnother(ctx, run, offered)
		if err != nil {
			return err
		}
		offered = append(offered, id)
		switch len(offered) {
		case 1:
			err = r.act(ctx, agents[id], run.runID, "decline", nil)
		case 2:
			// The second lets the countdown run out.
		case 3:
			err = r.act(ctx, agents[id], run.runID, "accept", nil)
		}
		if err != nil {
			return err
		}
	}
	accepted := agents[offered[2]]
	if err := r.assignedTo(ctx, run, accepted); err != nil {
		return err
	}
	return r.closeRun(ctx, accepted, run)
}

// offeredToAnother waits until the conversation is offered to an agent not in
// before, in the database and in its run, and answers the agent's id.
func (r *recorder) offeredToAnother(ctx context.Context, run recordedRun, before []string) (string, error) {
	var id string
	err := eventually(ctx, "conversation "+run.runID+" is offered to another agent", func() (bool, error) {
		err := r.db.QueryRowContext(ctx, `SELECT coalesce(agent_id::text, '') FROM conversations WHERE id = $1 AND status = 'offered'`, run.runID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // not offered now
		}
		return id != "" && !slices.Contains(before, id), err
	})
	if err != nil {
		return id, err
	}
	return id, r.runKnows(ctx, run, "offered", id)
}

// queueFull: the queue takes one waiting conversation; the next customer hears
// the queue is full, and the conversation ends.
func (r *recorder) queueFull(ctx context.Context) error {
	s, err := r.newScene(ctx, "Overflow", map[string]any{"overflow": map[string]any{"max_waiting": 1, "action": "end"}})
	if err != nil {
		return err
	}
	if _, err := r.customerConversation(ctx, s, "3700000000000031", "first in line", "waiting"); err != nil {
		return err
	}
	return r.endedBeforeQueueing(ctx, s, "conversation-queue-full", "3700000000000032", "second in line")
}

// outOfHours: the team is closed today and tomorrow; the customer hears when it
// opens, and the conversation ends.
func (r *recorder) outOfHours(ctx context.Context) error {
	hours := calendar.Weekly("UTC", calendar.Days, calendar.Range{"09:00", "17:00"})
	today := time.Now().UTC().Truncate(24 * time.Hour)
	hours.Exceptions = []calendar.Exception{
		{Date: today.Format(time.DateOnly), Closed: true},
		{Date: today.AddDate(0, 0, 1).Format(time.DateOnly), Closed: true},
	}
	s, err := r.newScene(ctx, "Closed", map[string]any{"operating_hours": hours, "out_of_hours": map[string]any{"action": "end"}})
	if err != nil {
		return err
	}
	return r.endedBeforeQueueing(ctx, s, "conversation-out-of-hours", "3700000000000041", "anyone there?")
}

// endedBeforeQueueing has the customer write; the rules before queueing end the
// conversation, whose run is kept as file.
func (r *recorder) endedBeforeQueueing(ctx context.Context, s scene, file, psid, text string) error {
	run, err := r.customerConversation(ctx, s, psid, text, "closed")
	if err != nil {
		return err
	}
	r.keep(file, run)
	return r.completed(ctx, run)
}

// customerTimeout: the agent answers and the customer stays silent: the
// conversation closes with the customer_timeout message.
func (r *recorder) customerTimeout(ctx context.Context) error {
	s, err := r.newScene(ctx, "Silent customer", map[string]any{"timeouts": map[string]any{"customer_s": 1}})
	if err != nil {
		return err
	}
	dee, err := r.sceneAgent(ctx, s, "dee", 1)
	if err != nil {
		return err
	}
	run, err := r.customerConversation(ctx, s, "3700000000000051", "my order is late", "assigned")
	if err != nil {
		return err
	}
	r.keep("conversation-customer-timeout", run)
	if err := r.reply(ctx, dee, run.runID, "Could you send me the order number?", "sent"); err != nil {
		return err
	}
	return r.completed(ctx, run)
}

// agentTimeout: the customer waits unanswered: the agent is reminded, then the
// conversation goes back to the queue and to another agent.
func (r *recorder) agentTimeout(ctx context.Context) error {
	s, err := r.newScene(ctx, "Silent agent", map[string]any{"timeouts": map[string]any{"agent_remind_s": 1, "agent_reoffer_s": 2}})
	if err != nil {
		return err
	}
	if _, err := r.sceneAgent(ctx, s, "slow", 1); err != nil {
		return err
	}
	run, err := r.customerConversation(ctx, s, "3700000000000061", "hello?", "assigned")
	if err != nil {
		return err
	}
	r.keep("conversation-agent-timeout", run)
	other, err := r.sceneAgent(ctx, s, "other", 1)
	if err != nil {
		return err
	}
	if err := eventually(ctx, "the agent is reminded", func() (bool, error) {
		var n int
		err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM agent_events WHERE name = 'conversation.reminder' AND conversation_id = $1`, run.runID).Scan(&n)
		return n > 0, err
	}); err != nil {
		return err
	}
	if err := r.assignedTo(ctx, run, other); err != nil {
		return err
	}
	return r.closeRun(ctx, other, run)
}

// affinity: a returning customer waits for the agent of their last conversation,
// who has no room; after the wait (the queue workflow's timer) another agent
// gets the conversation.
func (r *recorder) affinity(ctx context.Context) error {
	s, err := r.newScene(ctx, "Affinity", map[string]any{"affinity": map[string]any{"days": 7, "wait_s": 1, "fallback": "wait"}})
	if err != nil {
		return err
	}
	r.keepEndless("queue-affinity", recordedRun{workflowID: contract.QueueWorkflowID(s.QueueID)})
	fay, err := r.sceneAgent(ctx, s, "fay", 1)
	if err != nil {
		return err
	}
	const returning, busy = "3700000000000071", "3700000000000072"
	first, err := r.customerConversation(ctx, s, returning, "hello", "assigned")
	if err != nil {
		return err
	}
	if err := r.closeRun(ctx, fay, first); err != nil {
		return err
	}
	faysOther, err := r.customerConversation(ctx, s, busy, "hello", "assigned")
	if err != nil {
		return err
	}
	gus, err := r.sceneAgent(ctx, s, "gus", 1)
	if err != nil {
		return err
	}
	back, err := r.customerConversation(ctx, s, returning, "it's me again", "assigned")
	if err != nil {
		return err
	}
	if err := r.assignedTo(ctx, back, gus); err != nil {
		return fmt.Errorf("after waiting for fay: %w", err)
	}
	if err := r.closeRun(ctx, gus, back); err != nil {
		return err
	}
	return r.closeRun(ctx, fay, faysOther)
}
