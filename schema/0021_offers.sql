-- Accept or decline (issue 13, part 2): a workstream may offer each conversation
-- to an agent, who accepts or declines it before a countdown runs out.

ALTER TABLE workstreams ADD COLUMN offer_auto_accept boolean NOT NULL DEFAULT true;
ALTER TABLE workstreams ADD COLUMN offer_countdown_seconds integer NOT NULL DEFAULT 120 CHECK (offer_countdown_seconds BETWEEN 1 AND 3600);
ALTER TABLE workstreams ADD COLUMN offer_missed_to_away integer NOT NULL DEFAULT 3 CHECK (offer_missed_to_away BETWEEN 1 AND 100);

-- The current offer of a conversation in status 'offered' (its agent is agent_id).
ALTER TABLE conversations ADD COLUMN offered_at timestamptz;
ALTER TABLE conversations ADD COLUMN offer_expires_at timestamptz;

-- Every offer, with how it ended: the next offer goes to an eligible agent who
-- has had the conversation fewest times; counts feed decline and timeout rates.
CREATE TABLE conversation_offers (
    conversation_id uuid NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    agent_id        uuid NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    offered_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    outcome         text CHECK (outcome IN ('accepted', 'declined', 'expired')),
    ended_at        timestamptz,
    PRIMARY KEY (conversation_id, offered_at)
);
CREATE INDEX conversation_offers_agent ON conversation_offers (agent_id, offered_at);

-- Offers the agent let run out in a row; at the workstream's offer_missed_to_away
-- the agent is set away (and told why). Accepting or declining resets it.
ALTER TABLE agents ADD COLUMN missed_offers integer NOT NULL DEFAULT 0;
