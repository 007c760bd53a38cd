-- state_seq numbers the changes of a conversation's assignment and state
-- (status or agent): each one, in the transaction that makes it and under the
-- row lock its UPDATE takes, raises it by one. The signals that tell the
-- conversation's workflow of a change carry it, so the workflow ignores one that
-- arrives after a newer change's (a retried "assigned" after a hold). A trigger,
-- not the store's updates, so that every writer of status and agent_id is
-- covered (assignments, offers, holds, transfers, reassignments, closes).
ALTER TABLE conversations ADD COLUMN state_seq bigint NOT NULL DEFAULT 0;

CREATE FUNCTION conversations_state_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.state_seq := OLD.state_seq + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER conversations_state_seq BEFORE UPDATE ON conversations
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.agent_id IS DISTINCT FROM NEW.agent_id)
    EXECUTE FUNCTION conversations_state_seq();
