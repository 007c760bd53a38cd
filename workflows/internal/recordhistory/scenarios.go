package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"fbchannel/app/apptest"
	"fbchannel/calendar"
	"fbchannel/simulator"
	"fbchannel/workflows/contract"
)

// The scenarios past the main story: the paths a workstream's rules open (states,
// offers, the rules before queueing, timeouts, affinity). Each runs on a page of
// its own, so its rules and its agents touch no other scenario.

// scene is one scenario's account and page.
type scene struct {
	apptest.Page
}

// newScene connects a page whose workstream has the rules, with no agent in its
// default queue yet: every agent joins a new default queue, so the earlier
// scenarios' agents leave it, and sceneAgent's agents join only this one. Rules
// nil: the workstream's defaults.
func (r *recorder) newScene(ctx context.Context, name string, rules map[string]any) (scene, error) {
	p, err := r.stack.ConnectPage(ctx, name)
	s := scene{Page: p}
	if err != nil {
		return s, err
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM queue_members WHERE queue_id = $1`, p.QueueID); err != nil {
		return s, err
	}
	if rules == nil {
		return s, nil
	}
	return s, r.setRules(ctx, s, rules)
}

// setRules changes the scene's workstream.
func (r *recorder) setRules(ctx context.Context, s scene, rules map[string]any) error {
	return r.admin(ctx, "PATCH", "/api/v1/workstreams/"+s.WorkstreamID, 200, rules, nil)
}

// sceneAgent is an available agent of the scene's queue only.
func (r *recorder) sceneAgent(ctx context.Context, s scene, name string, capacity int) (agent, error) {
	return r.queueAgent(ctx, s.QueueID, name, capacity)
}

// queueAgent is an available agent of the queue only. It becomes available once
// it has left the other scenes' queues (a new agent joins every default queue),
// so it never takes another scene's conversation.
func (r *recorder) queueAgent(ctx context.Context, queueID, name string, capacity int) (agent, error) {
	a, err := r.createAgent(ctx, name, capacity)
	if err != nil {
		return a, err
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM queue_members WHERE agent_id = $1 AND queue_id <> $2`, a.ID, queueID); err != nil {
		return a, err
	}
	if _, err := r.db.ExecContext(ctx, `INSERT INTO queue_members (queue_id, agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, queueID, a.ID); err != nil {
		return a, err
	}
	return a, r.setPresence(ctx, a, "available")
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

// parkedReplies: the page's token is revoked; the agent's replies are parked
// (the page workflow hears the token is invalid), and go out in order once the
// admin gives the page a new token and the page workflow provisions it again.
// Then a delivery receipt for the closed conversation starts a run that has only
// it to record (strayEvents).
func (r *recorder) parkedReplies(ctx context.Context) error {
	s, err := r.newScene(ctx, "Parked", nil)
	if err != nil {
		return err
	}
	r.keepEndless("page-reauthorised", recordedRun{workflowID: contract.PageWorkflowID(s.PageUUID)})
	hal, err := r.sceneAgent(ctx, s, "hal", 1)
	if err != nil {
		return err
	}
	const psid = "3700000000000081"
	run, err := r.customerConversation(ctx, s, psid, "where is my parcel?", "assigned")
	if err != nil {
		return err
	}
	r.keep("conversation-parked", run)
	r.stack.Sim.RevokeToken(s.PageToken, 460)
	for _, text := range []string{"Checking now.", "It ships today."} {
		var out map[string]any
		if err := r.call(ctx, "POST", "/api/v1/conversations/"+run.runID+"/messages", hal.Token, 202, map[string]string{"text": text}, &out); err != nil {
			return err
		}
		if out["status"] != "queued" {
			return fmt.Errorf("reply %q while the token is revoked: %v, want queued", text, out)
		}
	}
	newToken := "EAAB" + apptest.RandomHex(20)
	r.stack.Sim.RegisterPage(simulator.Page{PageID: s.PageID, Name: "Parked Page", AccessToken: newToken, AppID: s.AppID})
	if err := r.admin(ctx, "PUT", "/api/v1/pages/"+s.PageUUID+"/token", 200, map[string]string{"access_token": newToken}, nil); err != nil {
		return err
	}
	if err := eventually(ctx, "the parked replies are sent", func() (bool, error) {
		var n int
		err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND sender = 'agent' AND status = 'sent'`, run.runID).Scan(&n)
		return n == 2, err
	}); err != nil {
		return err
	}
	if err := r.closeRun(ctx, hal, run); err != nil {
		return err
	}
	return r.strayEvents(ctx, s, psid, run)
}

// strayEvents: Facebook's receipt for a message of a closed conversation starts
// the customer's workflow again; the run records it with that conversation and
// ends, opening nothing.
func (r *recorder) strayEvents(ctx context.Context, s scene, psid string, closed recordedRun) error {
	var mid string
	if err := r.db.QueryRowContext(ctx, `SELECT facebook_message_id FROM messages WHERE conversation_id = $1 AND sender = 'agent' AND facebook_message_id IS NOT NULL
		ORDER BY created_at DESC LIMIT 1`, closed.runID).Scan(&mid); err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{"object": "page", "entry": []any{map[string]any{"id": s.PageID, "time": time.Now().UnixMilli(),
		"messaging": []any{map[string]any{"sender": map[string]string{"id": psid}, "recipient": map[string]string{"id": s.PageID},
			"delivery": map[string]any{"mids": []string{mid}, "watermark": time.Now().UnixMilli()}}}}}})
	if err != nil {
		return err
	}
	if status, resp, err := r.stack.Sim.PostWebhook(ctx, s.CallbackURL, s.AppSecret, body); err != nil || status != 200 {
		return fmt.Errorf("delivery receipt: %d %s %v", status, resp, err)
	}
	stray, err := r.nextRun(ctx, closed)
	if err != nil {
		return err
	}
	if err := r.completed(ctx, stray); err != nil {
		return err
	}
	r.keep("conversation-stray-events", stray)
	return nil
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

// heldUntilOpening: the team opens at the next whole minute and its workstream
// assigns anyway out of hours: the customer who writes before is told when it
// opens, and the conversation is held out of its queue (the run's durable timer)
// until the opening, then released to the queue and assigned. The scenario sets
// this up and answers the rest: waiting for the opening, which the caller runs
// after the other scenarios.
func (r *recorder) heldUntilOpening(ctx context.Context) (func(context.Context) error, error) {
	now := time.Now().UTC()
	opening := now.Truncate(time.Minute).Add(time.Minute)
	if opening.Sub(now) < 15*time.Second {
		opening = opening.Add(time.Minute)
	}
	if opening.Day() != now.Day() {
		return nil, fmt.Errorf("too close to midnight UTC for an opening today: record again after 00:02")
	}
	s, err := r.newScene(ctx, "Early", map[string]any{
		"operating_hours": calendar.Weekly("UTC", calendar.Days, calendar.Range{opening.Format("15:04"), "24:00"}),
		"out_of_hours":    map[string]any{"action": "assign_anyway"},
	})
	if err != nil {
		return nil, err
	}
	ivy, err := r.sceneAgent(ctx, s, "ivy", 1)
	if err != nil {
		return nil, err
	}
	run, err := r.customerConversation(ctx, s, "3700000000000091", "are you open yet?", "waiting")
	if err != nil {
		return nil, err
	}
	if time.Now().After(opening) {
		return nil, fmt.Errorf("the conversation was opened after the opening %v: record again", opening)
	}
	r.keep("conversation-held-until-opening", run)
	return func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(opening)):
		}
		if err := r.assignedTo(ctx, run, ivy); err != nil {
			return err
		}
		return r.closeRun(ctx, ivy, run)
	}, nil
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

// overflowAfterMaxWait: nobody takes the conversation in its queue within the
// workstream's maximum wait; the queue workflow's timer moves it to the overflow
// queue, whose agent gets it.
func (r *recorder) overflowAfterMaxWait(ctx context.Context) error {
	s, err := r.newScene(ctx, "Max wait", nil)
	if err != nil {
		return err
	}
	var spill struct{ ID string }
	if err := r.admin(ctx, "POST", "/api/v1/queues", 201, map[string]any{"account_id": s.AccountID, "name": "Overflow", "priority": 0}, &spill); err != nil {
		return err
	}
	if err := r.setRules(ctx, s, map[string]any{"max_wait_seconds": 1, "overflow_queue_id": spill.ID}); err != nil {
		return err
	}
	r.keepEndless("queue-overflow", recordedRun{workflowID: contract.QueueWorkflowID(s.QueueID)})
	jo, err := r.queueAgent(ctx, spill.ID, "jo", 1)
	if err != nil {
		return err
	}
	run, err := r.customerConversation(ctx, s, "3700000000000101", "is anybody there?", "waiting")
	if err != nil {
		return err
	}
	if err := r.assignedTo(ctx, run, jo); err != nil {
		return err
	}
	return r.closeRun(ctx, jo, run)
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
