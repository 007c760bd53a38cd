package main

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"

	"fbchannel/app/apptest"
	"fbchannel/simulator"
	"fbchannel/workflows"
	"fbchannel/workflows/contract"
)

// mainPage is the main story's account and page, with the agent who answers there.
type mainPage struct {
	apptest.Page
	agent agent
}

// story takes one page through the main paths of every long-lived workflow, and
// ends with the account's deletion (see the package doc).
func (r *recorder) story(ctx context.Context) error {
	p, err := r.connectMainPage(ctx)
	if err != nil {
		return err
	}
	first, err := r.firstConversation(ctx, p)
	if err != nil {
		return err
	}
	if err := r.reopenedConversation(ctx, p, first); err != nil {
		return err
	}
	continued, err := r.longConversation(ctx, p)
	if err != nil {
		return err
	}
	bot, err := r.botConversation(ctx, p)
	if err != nil {
		return err
	}
	if err := r.replacedToken(ctx, p); err != nil {
		return err
	}
	if err := r.retention(ctx, p, first.runID); err != nil {
		return err
	}
	return r.deleteAccount(ctx, p, bot, continued)
}

// connectMainPage connects the page (its past threads are imported) and makes
// its agent available.
func (r *recorder) connectMainPage(ctx context.Context) (*mainPage, error) {
	// The page's past threads, imported when it is connected.
	fb := apptest.Page{AppID: "app-" + apptest.RandomHex(4), AppSecret: "secret-" + apptest.RandomHex(16),
		PageID: "100000000000042", PageToken: "EAAB" + apptest.RandomHex(20)}
	past := []simulator.HistoryThread{{ID: "t_recorded_1", PSID: "2900000000000051", CustomerName: "Past Customer"},
		{ID: "t_recorded_2", PSID: "2900000000000052", CustomerName: "Other Past Customer"}}
	for i := range 130 {
		past[i%2].Messages = append(past[i%2].Messages, simulator.HistoryMessage{MID: fmt.Sprintf("m_recorded_past_%03d", i),
			At: time.Now().Add(-48*time.Hour + time.Duration(i)*time.Minute), FromPage: i%3 == 0, Text: fmt.Sprintf("earlier %d", i)})
	}
	r.stack.Sim.SetHistory(fb.PageID, past)
	connected, err := r.stack.Connect(ctx, "Acme", fb)
	if err != nil {
		return nil, err
	}
	p := &mainPage{Page: connected}
	r.keep("page", recordedRun{workflowID: contract.PageWorkflowID(p.PageUUID)})
	historyImport := recordedRun{workflowID: contract.HistoryImportWorkflowID(p.PageUUID)}
	if err := r.completed(ctx, historyImport); err != nil {
		return nil, err
	}
	r.keep("history-import", historyImport)
	r.keepEndless("queue", recordedRun{workflowID: contract.QueueWorkflowID(p.QueueID)})

	p.agent, err = r.newAgent(ctx, "ada", 2)
	return p, err
}

// firstConversation: opened, assigned, replied to, a reply refused, closed.
func (r *recorder) firstConversation(ctx context.Context, p *mainPage) (recordedRun, error) {
	psid := "2900000000000042"
	for range 2 { // Facebook redelivers: the second copy must add nothing
		if err := r.customerSays(ctx, p.Page, psid, "Hello, my order is late", "m_recorded_1"); err != nil {
			return recordedRun{}, err
		}
	}
	run, err := r.conversationRun(ctx, p.PageID, psid, "assigned")
	if err != nil {
		return run, err
	}
	r.keep("conversation", run)
	if err := r.reply(ctx, p.agent, run.runID, "Sorry! Checking now.", "sent"); err != nil {
		return run, err
	}
	r.stack.Sim.AddFault(simulator.Fault{Method: "POST", PathSuffix: "/messages", HTTPStatus: 400, Code: 551, Subcode: 1545041,
		Message: "This person isn't available right now.", Times: 1})
	var failed map[string]any
	if err := r.call(ctx, "POST", "/api/v1/conversations/"+run.runID+"/messages", p.agent.Token, 201, map[string]string{"text": "Are you there?"}, &failed); err != nil {
		return run, err
	}
	if failed["status"] != "failed" || failed["reason"] != "user_unavailable" {
		return run, fmt.Errorf("the refused reply did not fail as user_unavailable: %v", failed)
	}
	return run, r.closeRun(ctx, p.agent, run)
}

// reopenedConversation: a new run of the same workflow, back to the same agent.
func (r *recorder) reopenedConversation(ctx context.Context, p *mainPage, first recordedRun) error {
	convID := first.runID
	var reopened map[string]any
	if err := r.call(ctx, "POST", "/api/v1/conversations/"+convID+"/reopen", p.agent.Token, 200, nil, &reopened); err != nil {
		return err
	}
	if reopened["status"] != "assigned" {
		return fmt.Errorf("reopened: %v, want assigned", reopened)
	}
	run, err := r.nextRun(ctx, first)
	if err != nil {
		return err
	}
	r.keep("conversation-reopened", run)
	if err := r.reply(ctx, p.agent, convID, "Reopened to add one thing: it ships today.", "sent"); err != nil {
		return err
	}
	if err := r.act(ctx, p.agent, convID, "close", nil); err != nil {
		return err
	}
	return r.completed(ctx, run)
}

// longConversation: it outgrows its run and continues as new with its state; the
// agent replies in the continued run, which it answers.
func (r *recorder) longConversation(ctx context.Context, p *mainPage) (recordedRun, error) {
	psid := "2900000000000044"
	for i := range longConversationDeliveries {
		if err := r.customerSays(ctx, p.Page, psid, fmt.Sprintf("One more detail (%d)", i+1), fmt.Sprintf("m_recorded_long_%02d", i)); err != nil {
			return recordedRun{}, err
		}
		// One delivery at a time, each recorded before the next, as a customer
		// typing: every one costs the run its own workflow tasks and activity.
		if err := eventually(ctx, "the long conversation's message is recorded", func() (bool, error) {
			var n int
			err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id
				JOIN customers cu ON cu.id = c.customer_id WHERE cu.psid = $1 AND m.sender = 'customer'`, psid).Scan(&n)
			return n > i, err
		}); err != nil {
			return recordedRun{}, err
		}
	}
	long, err := r.conversationRun(ctx, p.PageID, psid, "assigned")
	if err != nil {
		return long, err
	}
	r.keep("conversation-long", long)
	continued, err := r.nextRun(ctx, long) // it continues as new
	if err != nil {
		return continued, err
	}
	r.keep("conversation-continued", continued)
	return continued, r.reply(ctx, p.agent, long.runID, "Thanks, all noted.", "sent")
}

// botConversation: the workstream gets a bot, which answers a question, then
// hands over when asked for an agent.
func (r *recorder) botConversation(ctx context.Context, p *mainPage) (recordedRun, error) {
	if err := r.admin(ctx, "PATCH", "/api/v1/workstreams/"+p.WorkstreamID, 200, map[string]any{"bot_url": r.stack.SimURL + "/_sim/bot"}, nil); err != nil {
		return recordedRun{}, err
	}
	psid := "2900000000000043"
	if err := r.customerSays(ctx, p.Page, psid, "What are your opening hours?", "m_recorded_bot_1"); err != nil {
		return recordedRun{}, err
	}
	run, err := r.conversationRun(ctx, p.PageID, psid, "bot")
	if err != nil {
		return run, err
	}
	r.keep("conversation-bot", run)
	if err := eventually(ctx, "the bot answers", func() (bool, error) {
		var n int
		err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE conversation_id = $1 AND sender = 'bot'`, run.runID).Scan(&n)
		return n > 0, err
	}); err != nil {
		return run, err
	}
	if err := r.customerSays(ctx, p.Page, psid, "I want to talk to an agent please", "m_recorded_bot_2"); err != nil {
		return run, err
	}
	_, err = r.conversationOf(ctx, psid, "assigned")
	return run, err
}

// replacedToken makes the page workflow provision again.
func (r *recorder) replacedToken(ctx context.Context, p *mainPage) error {
	newToken := "EAAB" + apptest.RandomHex(20)
	r.stack.Sim.RegisterPage(simulator.Page{PageID: p.PageID, Name: "Recorded Page", AccessToken: newToken, AppID: p.AppID})
	if err := r.admin(ctx, "PUT", "/api/v1/pages/"+p.PageUUID+"/token", 200, map[string]string{"access_token": newToken}, nil); err != nil {
		return err
	}
	if err := r.stack.WaitPageActive(ctx, p.PageUUID); err != nil {
		return err
	}
	return eventually(ctx, "the page workflow provisions again", func() (bool, error) {
		return len(r.stack.Sim.Requests("/subscribed_apps")) >= 2, nil
	})
}

// retention: the account keeps 30 days; the closed conversation is made 40 days
// old and a retention run (as the daily schedule starts) erases it.
func (r *recorder) retention(ctx context.Context, p *mainPage, closedConvID string) error {
	if err := r.admin(ctx, "PATCH", "/api/v1/accounts/"+p.AccountID, 200, map[string]any{"retention_days": 30}, nil); err != nil {
		return err
	}
	if _, err := r.db.ExecContext(ctx, `UPDATE conversations SET closed_at = now() - interval '40 days' WHERE id = $1`, closedConvID); err != nil {
		return err
	}
	run := recordedRun{workflowID: "retention-recorded"}
	r.keep("retention", run)
	retention, err := r.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: run.workflowID, TaskQueue: r.stack.TaskQueue},
		contract.RetentionWorkflowType, workflows.RetentionInput{})
	if err != nil {
		return err
	}
	var erased workflows.RetentionResult
	if err := retention.Get(ctx, &erased); err != nil {
		return fmt.Errorf("the retention run: %w", err)
	}
	if erased.Total.Conversations < 1 {
		return fmt.Errorf("the retention run erased %+v; want the old conversation", erased.Total)
	}
	return nil
}

// deleteAccount deletes the account, which deletes its page, which closes the
// open conversations.
func (r *recorder) deleteAccount(ctx context.Context, p *mainPage, open ...recordedRun) error {
	if err := r.admin(ctx, "DELETE", "/api/v1/accounts/"+p.AccountID, 202, nil, nil); err != nil {
		return err
	}
	deletion := recordedRun{workflowID: contract.AccountDeletionWorkflowID(p.AccountID)}
	r.keep("account-deletion", deletion)
	for _, run := range append([]recordedRun{deletion, {workflowID: contract.PageWorkflowID(p.PageUUID)}}, open...) {
		if err := r.completed(ctx, run); err != nil {
			return err
		}
	}
	// The agent is no one's from here on: the scenarios bring their own.
	return r.setPresence(ctx, p.agent, "offline")
}
