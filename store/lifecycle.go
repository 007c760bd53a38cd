package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/google/uuid"
)

// MarkSent records a successful send and tells the agent.
func (s *Store) MarkSent(ctx context.Context, messageID, facebookMessageID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "sent"), ub.Assign("facebook_message_id", facebookMessageID),
			"sent_at = now()", "updated_at = now()").Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

// MarkFailed records a failed send with its reason and tells the agent.
func (s *Store) MarkFailed(ctx context.Context, messageID, reason, message string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "failed"), ub.Assign("reason", reason), ub.Assign("error", message),
			"updated_at = now()").Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

func (s *Store) notifyMessage(ctx context.Context, tx *sql.Tx, messageID string) error {
	m, err := s.GetMessage(ctx, tx, messageID)
	if errors.Is(err, ErrNotFound) {
		return nil // a row that is gone has nothing to announce; retrying would never end
	}
	if err != nil {
		return err
	}
	tell := []string{}
	if m.AgentID != nil {
		tell = append(tell, *m.AgentID)
	}
	if m.Sender == SenderSupervisor {
		// A supervisor's message: the conversation's agent follows it as well.
		var agent string
		if err := columnByID(ctx, tx, "conversations", "coalesce(agent_id::text, '')", m.ConversationID, false, &agent); err != nil {
			return err
		}
		if agent != "" && (m.AgentID == nil || *m.AgentID != agent) {
			tell = append(tell, agent)
		}
	}
	for _, agent := range tell {
		if err := insertEvent(ctx, tx, agent, "message.status", m.ConversationID, "status:"+m.ID+":"+m.Status+":"+agent,
			map[string]any{"message_id": m.ID, "status": m.Status, "error": m.Error, "reason": m.Reason, "facebook_message_id": m.FacebookMessageID}); err != nil {
			return err
		}
	}
	return nil
}

// OutboundToSend is what SendMessage needs from the database.
type OutboundToSend struct {
	Message        Message
	PageUUID       string
	PSID           string
	StillAssigned  bool // the conversation is open and still the sending agent's
	AlreadySentMID string
	// Attempted: a send attempt is recorded (BeginSendAttempt) and the message is
	// not known to be sent: Facebook may have it, so it must not be sent again.
	Attempted bool
}

// OutboundToSend loads a reply and checks that its agent still owns the conversation.
func (s *Store) OutboundToSend(ctx context.Context, messageID string) (OutboundToSend, error) {
	var o OutboundToSend
	m, err := s.GetMessage(ctx, s.DB, messageID)
	if err != nil {
		return o, err
	}
	o.Message = m
	if m.Status != "sending" && m.Status != "queued" && m.FacebookMessageID != nil {
		o.AlreadySentMID = *m.FacebookMessageID
	}
	sb := pg.NewSelectBuilder()
	sb.Select("c.page_uuid", "cu.psid", "c.status", "c.agent_id", "m.send_attempted_at IS NOT NULL").From("conversations c").
		Join("customers cu", "cu.id = c.customer_id").Join("messages m", "m.conversation_id = c.id").
		Where(sb.Equal("c.id", m.ConversationID), sb.Equal("m.id", messageID))
	var status string
	var agentID *string
	var attempted bool
	if err := queryRow(ctx, s.DB, sb).Scan(&o.PageUUID, &o.PSID, &status, &agentID, &attempted); err != nil {
		return o, notFound(err, "conversation")
	}
	o.Attempted = attempted && o.AlreadySentMID == "" && (m.Status == "sending" || m.Status == "queued")
	o.StillAssigned = status == "assigned" && agentID != nil && m.AgentID != nil && *agentID == *m.AgentID ||
		// A supervisor who joined writes as the page while the conversation is open.
		m.Sender == SenderSupervisor && status != "closed"
	return o, nil
}

// CloseConversation closes and tells the agent; it returns the agent's queues so
// their workflows can use the freed capacity, and the agent ("" if none), which the
// conversation's workflow may not have heard of yet. Closing twice is harmless.
// byAgent is the agent who closes ("" for the service's own closes): a
// conversation that is no longer that agent's is not closed (StillAssignedTo).
func (s *Store) CloseConversation(ctx context.Context, conversationID, byAgent, reason, disposition string) (queues []string, agent string, err error) {
	err = s.InTx(ctx, func(tx *sql.Tx) error {
		status, agentID, err := lockConversation(ctx, tx, conversationID)
		if err != nil {
			return err
		}
		if err := stillAssignedTo(status, agentID, byAgent); err != nil {
			return err
		}
		queues, agent, err = s.closeLocked(ctx, tx, conversationID, status, agentID, reason, disposition)
		return err
	})
	return queues, agent, err
}

// closeLocked closes the conversation whose row lock the caller holds (status and
// agentID as the lock read them). A conversation in wrap-up closes too: its
// wrap-up ends with it.
func (s *Store) closeLocked(ctx context.Context, tx *sql.Tx, conversationID, status string, agentID *string, reason, disposition string) (queues []string, agent string, err error) {
	if agentID != nil {
		agent = *agentID
		if queues, err = s.AgentQueues(ctx, tx, *agentID); err != nil {
			return nil, "", err
		}
	}
	if status == "closed" {
		return queues, agent, nil
	}
	ub := pg.NewUpdateBuilder()
	set := []string{ub.Assign("status", "closed"), ub.Assign("close_reason", reason), ub.Assign("disposition", disposition), "closed_at = now()", "held_at = NULL"}
	if status == "wrap_up" {
		set = append(set, "wrap_up_ended_at = now()")
	}
	ub.Update("conversations").Set(set...).Where(ub.Equal("id", conversationID))
	if _, err := exec(ctx, tx, ub); err != nil {
		return nil, "", err
	}
	if agentID == nil {
		return queues, agent, nil
	}
	if err := insertEvent(ctx, tx, *agentID, "conversation.closed", conversationID, "closed:"+conversationID+":"+uuid.NewString(), // one per close; the status check makes a retry add none
		map[string]any{"reason": reason, "disposition": disposition}); err != nil {
		return nil, "", err
	}
	return queues, agent, endConsultsAtClose(ctx, tx, conversationID, *agentID)
}

// SaveProfile stores what Facebook told us about a customer, and tells each agent
// who has one of the customer's open conversations (customer.updated): the profile
// is fetched off the conversation's critical path, so an agent may already show the
// stand-in name. The conversations are locked before their agents are read, so an
// assignment either commits before (and its agent gets the event) or after (and
// reads the new name).
//
// Lock order: the customer's row first, then its conversations, as linking a
// contact (customer, then the audit row's key check on the conversation) and
// erasure do; and FOR NO KEY UPDATE, which does not block rows that only refer
// to a conversation (messages, events, audits). Conversations first deadlocked
// with a link made while the profile arrived (TestContactLinkFollowsTheCustomer
// answered 503 once in CI).
func (s *Store) SaveProfile(ctx context.Context, customerID, name, pic, locale string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("customers").Set(ub.Assign("name", name), ub.Assign("profile_pic", pic), ub.Assign("locale", locale),
			"profile_fetched_at = now()").Where(ub.Equal("id", customerID))
		ub.SQL("RETURNING profile_fetched_at")
		var fetchedAt time.Time
		if err := queryRow(ctx, tx, ub).Scan(&fetchedAt); err != nil {
			return notFound(err, "customer")
		}
		sb := pg.NewSelectBuilder()
		sb.Select("id", "agent_id").From("conversations").
			Where(sb.Equal("customer_id", customerID), sb.NotEqual("status", "closed")).OrderBy("id").SQL("FOR NO KEY UPDATE")
		type held struct{ conversationID, agentID string }
		open, err := queryAll(ctx, tx, sb, func(row rowScanner) (held, error) {
			var h held
			var agent sql.NullString
			err := row.Scan(&h.conversationID, &agent)
			h.agentID = agent.String
			return h, err
		})
		if err != nil {
			return err
		}
		customer := map[string]any{"id": customerID, "name": name, "profile_pic": pic, "locale": locale}
		for _, h := range open {
			if h.agentID == "" {
				continue
			}
			// One event per saved profile and conversation: a retry of the same
			// save (same fetched-at) adds none.
			key := "customer:" + h.conversationID + ":" + fetchedAt.UTC().Format(time.RFC3339Nano)
			if err := insertEvent(ctx, tx, h.agentID, "customer.updated", h.conversationID, key,
				map[string]any{"customer": customer}); err != nil {
				return err
			}
		}
		return nil
	})
}

// FallbackName is how a customer without a profile is shown: honest and still
// distinguishable from other customers. A new customer has it until Facebook's
// profile arrives.
func FallbackName(psid string) string {
	tail := psid
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	return "Facebook user ·" + tail
}

// CustomerForProfile says whose profile to fetch, and whether it is fresh enough.
func (s *Store) CustomerForProfile(ctx context.Context, customerID string, freshFor time.Duration) (psid string, fresh bool, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("psid", "profile_fetched_at").From("customers").Where(sb.Equal("id", customerID))
	var fetched sql.NullTime
	if err := queryRow(ctx, s.DB, sb).Scan(&psid, &fetched); err != nil {
		return "", false, notFound(err, "customer")
	}
	return psid, fetched.Valid && time.Since(fetched.Time) < freshFor, nil
}

// MarkQueued records that a reply waits for its page to be re-authorised.
func (s *Store) MarkQueued(ctx context.Context, messageID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ub := pg.NewUpdateBuilder()
		ub.Update("messages").Set(ub.Assign("status", "queued"), ub.Assign("reason", "page_needs_reauth"),
			ub.Assign("error", "The page needs re-authorisation; this reply will be sent once it is."), "updated_at = now()").
			Where(ub.Equal("id", messageID), ub.In("status", "sending", "queued"))
		if _, err := exec(ctx, tx, ub); err != nil {
			return err
		}
		return s.notifyMessage(ctx, tx, messageID)
	})
}

// ConversationsWithParkedReplies lists (page id, PSID) of open conversations of a
// page that hold replies waiting for re-authorisation.
func (s *Store) ConversationsWithParkedReplies(ctx context.Context, pageUUID string) ([][2]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("DISTINCT c.page_id", "cu.psid").From("messages m").
		Join("conversations c", "c.id = m.conversation_id").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.page_uuid", pageUUID), sb.Equal("m.status", "queued"), sb.NotEqual("c.status", "closed"))
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (pair [2]string, err error) {
		err = row.Scan(&pair[0], &pair[1])
		return pair, err
	})
}

// PageStatus reads a page's provisioning status.
func (s *Store) PageStatus(ctx context.Context, pageUUID string) (string, error) {
	var status string
	err := columnByID(ctx, s.DB, "pages", "provisioning_status", pageUUID, false, &status)
	return status, notFound(err, "page")
}

// InsertAutomatedMessage stores a message of the service ("system") or of the bot
// ("bot"); idempotent on id.
func (s *Store) InsertAutomatedMessage(ctx context.Context, id, conversationID, sender, text string) error {
	conv, err := s.conversation(ctx, s.DB, conversationID)
	if err != nil {
		return err
	}
	return s.InTx(ctx, func(tx *sql.Tx) error {
		ib := pg.NewInsertBuilder()
		ib.InsertInto("messages").Cols("id", "conversation_id", "page_id", "direction", "sender", "kind", "text", "status", "agent_id").
			Values(id, conversationID, conv.PageID, "outbound", sender, "text", text, "sending", conv.AgentID)
		ib.SQL("ON CONFLICT (id) DO NOTHING")
		res, err := exec(ctx, tx, ib)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 || conv.AgentID == nil {
			return err
		}
		// The agent sees what the service says in its name as it happens (its
		// status follows as message.status).
		m, err := s.GetMessage(ctx, tx, id)
		if err != nil {
			return err
		}
		return insertEvent(ctx, tx, *conv.AgentID, "message.received", conversationID, "received:"+id, map[string]any{"message": m})
	})
}

// Opening is a conversation just opened and what its workflow keeps of its
// workstream's settings, read in the opening's transaction rather than by a
// query each.
type Opening struct {
	// Served is false when the page is not one we serve (any more).
	Served     bool
	CustomerID string
	// QueueID is the workstream's default queue, for reference.
	QueueID string
	// Bot: the workstream has a bot, which has the conversation first (status bot).
	Bot            bool
	AutoCloseHours int
	Timeouts       Timeouts
	// RoutesByLocale: a routing rule looks at customer.locale and the customer's
	// profile has not been fetched yet, so routing waits for the profile.
	RoutesByLocale bool
}

// openConversation creates the customer (once per page and PSID) and the
// conversation, waiting but not yet in a queue (routeConversation puts it in one
// once its first messages are recorded), or with the bot when the workstream has
// one. The conversation belongs to the page's workstream of this moment, whose
// settings the answer carries. Idempotent on conversationID: a retry creates
// nothing more and answers the settings of now.
func openConversation(ctx context.Context, tx *sql.Tx, conversationID, pageUUID, pageID, psid string) (o Opening, err error) {
	sb := pg.NewSelectBuilder()
	sb.Select("w.default_queue_id", "w.id", "w.bot_url <> ''", "coalesce(w.auto_close_after_hours, 0)",
		"w.timeout_customer_s", "w.timeout_agent_remind_s", "w.timeout_agent_reoffer_s",
		`EXISTS (SELECT 1 FROM routing_rules r WHERE r.workstream_id = w.id AND r.conditions @> '[{"field": "customer.locale"}]')`).
		From("pages p").Join("workstreams w", "w.id = p.workstream_id").
		Where(sb.Equal("p.id", pageUUID), sb.Equal("p.page_id", pageID), sb.NotIn("p.provisioning_status", "deleting", "deleted"))
	var workstreamID string
	var localeRules bool
	if err := queryRow(ctx, tx, sb).Scan(&o.QueueID, &workstreamID, &o.Bot, &o.AutoCloseHours,
		&o.Timeouts.CustomerSeconds, &o.Timeouts.AgentRemindSeconds, &o.Timeouts.AgentReofferSeconds, &localeRules); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return o, nil // not a page we serve (any more)
		}
		return o, err
	}
	ib := pg.NewInsertBuilder()
	// Shown as the stand-in name until the profile (fetched beside routing) arrives.
	ib.InsertInto("customers").Cols("id", "page_id", "psid", "name").Values(uuid.NewString(), pageID, psid, FallbackName(psid))
	// DO UPDATE (a no-op) rather than DO NOTHING, so RETURNING gives the existing id.
	ib.SQL("ON CONFLICT (page_id, psid) DO UPDATE SET psid = EXCLUDED.psid").Returning("id", "profile_fetched_at IS NOT NULL")
	var fetched bool
	if err := queryRow(ctx, tx, ib).Scan(&o.CustomerID, &fetched); err != nil {
		return o, err
	}
	o.RoutesByLocale = localeRules && !fetched && !o.Bot
	status := "waiting"
	if o.Bot {
		status = "bot"
	}
	ib = pg.NewInsertBuilder()
	ib.InsertInto("conversations").Cols("id", "page_uuid", "page_id", "customer_id", "status", "workstream_id").
		Values(conversationID, pageUUID, pageID, o.CustomerID, status, workstreamID)
	ib.SQL("ON CONFLICT (id) DO NOTHING")
	if _, err := exec(ctx, tx, ib); err != nil {
		return o, err
	}
	o.Served = true
	return o, nil
}

// ErrNotAssigned refuses an agent's close or end of a conversation that is no
// longer the agent's: a supervisor reassigned it, or it was transferred, between
// the agent's request and the close.
var ErrNotAssigned = &Refused{Code: "not_assigned", Message: "This conversation is no longer assigned to you."}

// stillAssignedTo checks, under the conversation's row lock, that a close on
// byAgent's behalf ("" for the service's own) closes that agent's conversation.
// A closed one passes: closing twice is harmless.
func stillAssignedTo(status string, agentID *string, byAgent string) error {
	if byAgent == "" || status == "closed" || (agentID != nil && *agentID == byAgent) {
		return nil
	}
	return ErrNotAssigned
}

// StillAssignedTo is stillAssignedTo without the lock: the close activity asks
// it before it sends the customer the farewell, so a close that will be refused
// says goodbye to nobody. The close's own check, under the lock, decides.
func (s *Store) StillAssignedTo(ctx context.Context, conversationID, byAgent string) error {
	if byAgent == "" {
		return nil
	}
	status, agentID, err := conversationHolder(ctx, s.DB, conversationID, false)
	if err != nil {
		return err
	}
	return stillAssignedTo(status, agentID, byAgent)
}
