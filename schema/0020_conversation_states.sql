-- Conversation states as Omnichannel defines them (issue 13, part 1): on hold and
-- wrap-up, and the workstream settings that govern them.

-- wrap_up_block: NULL = no wrap-up (ending closes at once, today's behaviour);
-- 'always' blocks the agent's capacity until the agent finishes, 'never' frees it at
-- once, 'seconds' blocks it for wrap_up_seconds, after which wrap-up ends by itself.
ALTER TABLE workstreams ADD COLUMN wrap_up_block text CHECK (wrap_up_block IN ('always', 'never', 'seconds'));
ALTER TABLE workstreams ADD COLUMN wrap_up_seconds integer CHECK (wrap_up_seconds BETWEEN 1 AND 86400);
-- How long a held conversation the customer wrote to waits for its agent to have
-- room (or come back online) before it is routed again.
ALTER TABLE workstreams ADD COLUMN hold_return_seconds integer NOT NULL DEFAULT 300 CHECK (hold_return_seconds BETWEEN 1 AND 86400);

-- When the conversation was put on hold (NULL when it is not on hold).
ALTER TABLE conversations ADD COLUMN held_at timestamptz;
-- Wrap-up: when it started and ended, and whether it holds the agent's capacity.
ALTER TABLE conversations ADD COLUMN wrap_up_started_at timestamptz;
ALTER TABLE conversations ADD COLUMN wrap_up_ended_at timestamptz;
ALTER TABLE conversations ADD COLUMN wrap_up_blocks boolean NOT NULL DEFAULT false;

-- The conversations that take an agent's capacity (store.holdsCapacity).
CREATE INDEX conversations_agent_load ON conversations (agent_id) WHERE status IN ('assigned', 'offered', 'wrap_up');
