-- Every new agent event rings the doorbell of its agent's event streams: a
-- notification on channel agent_events whose payload is the agent's id. Postgres
-- delivers it when the writing transaction commits (and never if it rolls back), so
-- a stream it wakes reads committed rows; several events for one agent in one
-- transaction make one notification. A trigger, not the store's insert, so that
-- every writer of agent_events is covered. The rows stay the truth: a stream that
-- misses a notification still reads them on its next safety poll.
CREATE FUNCTION agent_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('agent_events', NEW.agent_id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER agent_events_notify AFTER INSERT ON agent_events
    FOR EACH ROW EXECUTE FUNCTION agent_events_notify();
