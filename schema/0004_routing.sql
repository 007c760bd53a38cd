-- Workstream settings, routing rules and work distribution (issue 4).

ALTER TABLE workstreams
    ADD COLUMN language               text    NOT NULL DEFAULT '',   -- BCP 47, e.g. nl-NL; '' when not set
    ADD COLUMN distribution_mode      text    NOT NULL DEFAULT 'push' CHECK (distribution_mode IN ('push', 'pick')),
    -- How many units of an agent's capacity one conversation of this workstream takes.
    ADD COLUMN capacity_units         integer NOT NULL DEFAULT 1 CHECK (capacity_units BETWEEN 1 AND 100),
    -- After this long waiting in a queue, a conversation moves to the overflow queue.
    ADD COLUMN max_wait_seconds       integer CHECK (max_wait_seconds > 0),
    ADD COLUMN overflow_queue_id      uuid REFERENCES queues(id),
    ADD COLUMN auto_close_after_hours integer CHECK (auto_close_after_hours > 0),
    ADD COLUMN customer_attachments   boolean NOT NULL DEFAULT true,
    ADD COLUMN agent_attachments      boolean NOT NULL DEFAULT true,
    ADD COLUMN bot_url                text    NOT NULL DEFAULT '',
    ADD COLUMN updated_at             timestamptz NOT NULL DEFAULT now();

-- There is no contacts table yet: a customer with a contact_id is "linked to a contact".
ALTER TABLE customers ADD COLUMN contact_id uuid;

ALTER TABLE conversations
    -- The page's workstream when the conversation opened: its distribution mode,
    -- capacity units and maximum wait apply to the conversation.
    ADD COLUMN workstream_id  uuid REFERENCES workstreams(id),
    -- Capacity units the conversation takes from its agent (set when assigned).
    ADD COLUMN units          integer NOT NULL DEFAULT 1,
    ADD COLUMN assigned_at    timestamptz,
    -- Set when the conversation overflowed out of that queue; it overflows once.
    ADD COLUMN overflow_from  uuid REFERENCES queues(id),
    ADD COLUMN overflowed_at  timestamptz,
    -- The note of the last transfer, for the next agent.
    ADD COLUMN transfer_note  text NOT NULL DEFAULT '',
    ADD COLUMN transferred_at timestamptz;
UPDATE conversations c SET workstream_id = p.workstream_id FROM pages p WHERE p.id = c.page_uuid;
CREATE INDEX conversations_overflowed ON conversations (overflow_from)
    WHERE status = 'waiting' AND overflow_from IS NOT NULL;
CREATE INDEX conversations_workstream_waiting ON conversations (workstream_id) WHERE status = 'waiting';

-- Ordered per workstream; the first rule whose conditions all hold chooses the queue.
CREATE TABLE routing_rules (
    workstream_id uuid    NOT NULL REFERENCES workstreams(id),
    position      integer NOT NULL,
    name          text    NOT NULL DEFAULT '',
    queue_id      uuid    NOT NULL REFERENCES queues(id),
    conditions    jsonb   NOT NULL,
    PRIMARY KEY (workstream_id, position)
);

CREATE INDEX queue_members_agent ON queue_members (agent_id);
CREATE INDEX queues_account ON queues (account_id);
