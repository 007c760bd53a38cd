-- Issue 14, part 4: service KPIs (store/kpis.go reads them; README "Service KPIs").

-- The service level target of a queue: the share of its answered conversations
-- whose speed to answer is at most this many seconds.
ALTER TABLE queues ADD COLUMN service_level_seconds integer NOT NULL DEFAULT 60
    CHECK (service_level_seconds BETWEEN 1 AND 86400);

-- enqueued_at and assigned_at are overwritten by every transfer, reopen and
-- queue move; the KPIs need the first of each, which nothing else keeps.
ALTER TABLE conversations
    ADD COLUMN queued_at      timestamptz,  -- first entered a queue: the conversation is "incoming" from then
    ADD COLUMN first_queue_id uuid,         -- the queue it entered first, which its incoming/served/abandoned count in
    ADD COLUMN accepted_at    timestamptz,  -- first accepted by an agent: the end of its first wait
    ADD COLUMN first_agent_id uuid;         -- the agent who accepted it first
-- Reports range over the time conversations entered a queue.
CREATE INDEX conversations_queued ON conversations (queued_at) WHERE queued_at IS NOT NULL;

-- One row per wait in a queue that an agent ended by accepting the conversation
-- (a conversation transferred to a queue waits, and is answered, again): speed
-- to answer and service level are averages over these. No foreign keys: the row
-- is history and must not stop a conversation, agent or queue from being deleted.
CREATE TABLE queue_answers (
    conversation_id uuid        NOT NULL,
    queue_id        uuid,
    agent_id        uuid        NOT NULL,
    entered_at      timestamptz NOT NULL,
    answered_at     timestamptz NOT NULL
);
CREATE INDEX queue_answers_conversation ON queue_answers (conversation_id, answered_at);

-- The KPIs read these events per conversation (handle-time segments,
-- transfers, offers), and the histograms all of a kind; the log's other events
-- (messages, mostly) stay out of both indexes.
CREATE INDEX agent_events_kpi ON agent_events (conversation_id, id)
    WHERE name IN ('conversation.assigned', 'conversation.transferred', 'conversation.closed', 'conversation.offer_ended');
CREATE INDEX agent_events_kpi_name ON agent_events (name, conversation_id)
    WHERE name IN ('conversation.assigned', 'conversation.transferred', 'conversation.closed', 'conversation.offer_ended');

-- A trigger, not the store's updates, keeps these: every path that puts a
-- conversation in a queue or gives it to an agent (routing, bot hand-off,
-- transfers, reopen, pick, offers and supervisor reassignment as they come) is
-- covered without each remembering to, and in the same transaction as the change
-- and its agent event. An answer is a move from waiting (or offered) to an agent;
-- a direct agent-to-agent transfer did not wait in a queue and is no answer.
CREATE FUNCTION conversations_kpi_times() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    answered timestamptz := coalesce(NEW.assigned_at, now());
BEGIN
    IF NEW.enqueued_at IS NOT NULL AND NEW.queued_at IS NULL THEN
        NEW.queued_at := NEW.enqueued_at;
        NEW.first_queue_id := NEW.queue_id;
    END IF;
    IF NEW.agent_id IS NOT NULL AND NEW.status IN ('assigned', 'active')
       AND (TG_OP = 'INSERT' OR OLD.status IN ('waiting', 'offered')) THEN
        IF NEW.accepted_at IS NULL THEN
            NEW.accepted_at := answered;
            NEW.first_agent_id := NEW.agent_id;
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.enqueued_at IS NOT NULL THEN
            INSERT INTO queue_answers (conversation_id, queue_id, agent_id, entered_at, answered_at)
            VALUES (NEW.id, coalesce(OLD.queue_id, NEW.queue_id), NEW.agent_id, OLD.enqueued_at, answered);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER conversations_kpi_times BEFORE INSERT OR UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_kpi_times();

-- Conversations from before this migration: their first queue and acceptance
-- are the best known.
UPDATE conversations SET queued_at = enqueued_at, first_queue_id = queue_id WHERE enqueued_at IS NOT NULL;
UPDATE conversations SET accepted_at = assigned_at, first_agent_id = agent_id WHERE assigned_at IS NOT NULL;
