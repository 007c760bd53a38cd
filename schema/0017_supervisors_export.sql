-- Issue 14: supervisors and transcript export.

-- An agent's role: a supervisor signs in to the desk like an agent and also
-- watches the queues an admin gives it (supervisor_queues).
ALTER TABLE agents ADD COLUMN role text NOT NULL DEFAULT 'agent'
    CHECK (role IN ('agent', 'supervisor'));

CREATE TABLE supervisor_queues (
    agent_id   uuid NOT NULL REFERENCES agents(id),
    queue_id   uuid NOT NULL REFERENCES queues(id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, queue_id)
);
CREATE INDEX supervisor_queues_queue ON supervisor_queues (queue_id);

-- The bulk export walks an account's conversations by (opened_at, id) in pages
-- (keyset pagination), so each page is an index range, not a sort.
CREATE INDEX conversations_opened ON conversations (opened_at, id);
