-- Issue 14: the supervisors' live floor and their actions on conversations.

-- Every supervisor action (monitor, join, reassign, close): who (the supervising
-- agent, NULL for the admin token), when, what, on which conversation. Written
-- in the transaction of the action's own change where it has one.
CREATE TABLE supervisor_actions (
    id              bigserial PRIMARY KEY,
    supervisor_id   uuid REFERENCES agents(id),
    action          text NOT NULL CHECK (action IN ('monitor', 'join', 'reassign', 'close')),
    conversation_id uuid NOT NULL REFERENCES conversations(id),
    details         jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supervisor_actions_conversation ON supervisor_actions (conversation_id, id);

-- When the conversation entered its current status: the floor's "time in
-- state". A trigger, so that every writer (and every status added later) keeps it.
ALTER TABLE conversations ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();
UPDATE conversations SET status_changed_at = coalesce(closed_at, assigned_at, enqueued_at, opened_at);

CREATE FUNCTION conversations_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.status_changed_at := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER conversations_status_changed BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_status_changed();

-- The floor's doorbell, on the agent events channel (schema 0013): payload
-- "floor" when conversations, presence, capacity or membership change, and
-- "conversation:<id>" when a conversation's messages change (a monitored
-- transcript). One notification per statement and payload; Postgres folds the
-- same payload within a transaction into one. A ring only makes a stream read
-- the tables again, so a lost one delays the floor until the safety poll.
CREATE FUNCTION supervisor_floor_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agent_events', 'floor');
    RETURN NULL;
END
$$;
CREATE TRIGGER conversations_floor_notify AFTER INSERT OR UPDATE OR DELETE ON conversations
    FOR EACH STATEMENT EXECUTE FUNCTION supervisor_floor_notify();
CREATE TRIGGER agents_floor_notify AFTER UPDATE OF presence, capacity ON agents
    FOR EACH STATEMENT EXECUTE FUNCTION supervisor_floor_notify();
CREATE TRIGGER queue_members_floor_notify AFTER INSERT OR DELETE ON queue_members
    FOR EACH STATEMENT EXECUTE FUNCTION supervisor_floor_notify();

CREATE FUNCTION monitored_transcript_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agent_events', 'conversation:' || NEW.conversation_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER messages_transcript_notify AFTER INSERT OR UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION monitored_transcript_notify();
