-- Issue 13, parts 5-8: consults, reactions, and what the conversation list shows.

-- A consult: another agent invited onto a conversation to read it live and add
-- notes. It is not an assignment: the consultant's capacity is never counted
-- (capacity counts conversations by agent_id), and the primary agent stays.
CREATE TABLE conversation_consults (
    id              uuid PRIMARY KEY,
    conversation_id uuid NOT NULL REFERENCES conversations(id),
    agent_id        uuid NOT NULL REFERENCES agents(id),
    invited_by      uuid NOT NULL REFERENCES agents(id),
    -- active | ended | transferred
    status          text NOT NULL DEFAULT 'active',
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    ended_by        uuid REFERENCES agents(id)
);
-- One active consult per agent and conversation; events fan out to the active ones.
CREATE UNIQUE INDEX conversation_consults_active ON conversation_consults (conversation_id, agent_id)
    WHERE status = 'active';
CREATE INDEX conversation_consults_agent ON conversation_consults (agent_id) WHERE status = 'active';

-- Reactions on a message: Messenger keeps one reaction per person, so one row per
-- side (the customer, or the page's agents).
CREATE TABLE message_reactions (
    message_id uuid NOT NULL REFERENCES messages(id),
    by         text NOT NULL CHECK (by IN ('customer', 'agent')),
    emoji      text NOT NULL,
    agent_id   uuid REFERENCES agents(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, by)
);

-- agent_read_at: when the assigned agent last opened the conversation; customer
-- messages after it (and after the agent's last reply) are unread.
-- sender_action_at: the last sender action (typing, seen, reaction) sent for the
-- conversation; Messenger gets at most one per second per conversation, across
-- every starter, so the throttle is this row, not a process's memory.
ALTER TABLE conversations ADD COLUMN agent_read_at timestamptz;
ALTER TABLE conversations ADD COLUMN sender_action_at timestamptz;

-- The list's wait colours: amber after wait_amber_s, red after wait_red_s of the
-- customer's oldest unanswered message.
ALTER TABLE workstreams ADD COLUMN wait_amber_s integer NOT NULL DEFAULT 120 CHECK (wait_amber_s > 0);
ALTER TABLE workstreams ADD COLUMN wait_red_s integer NOT NULL DEFAULT 300 CHECK (wait_red_s > 0);
