-- Business rules (issue 15, parts 3 and 4): preferred agents and affinity, and
-- the conversation timeouts.

-- Affinity: a returning customer (last conversation closed within affinity_days,
-- 0: off) goes to that conversation's agent when available with room; otherwise
-- the conversation waits up to affinity_wait_s for it (fallback 'wait') or is
-- routed normally at once ('route'). A contact's preferred agents come first.
ALTER TABLE workstreams
    ADD COLUMN affinity_days integer NOT NULL DEFAULT 0 CHECK (affinity_days >= 0),
    ADD COLUMN affinity_wait_s integer NOT NULL DEFAULT 0 CHECK (affinity_wait_s >= 0),
    ADD COLUMN affinity_fallback text NOT NULL DEFAULT 'route' CHECK (affinity_fallback IN ('route', 'wait')),
    -- Timeouts in seconds, 0: off. customer: after the agent's last message, no
    -- customer reply for this long closes with an automated message. agent_remind /
    -- agent_reoffer: the customer waits unanswered this long, the agent is reminded /
    -- the conversation goes back to its queue.
    ADD COLUMN timeout_customer_s integer NOT NULL DEFAULT 0 CHECK (timeout_customer_s >= 0),
    ADD COLUMN timeout_agent_remind_s integer NOT NULL DEFAULT 0 CHECK (timeout_agent_remind_s >= 0),
    ADD COLUMN timeout_agent_reoffer_s integer NOT NULL DEFAULT 0 CHECK (timeout_agent_reoffer_s >= 0);

-- A contact's preferred agents, ranked 1 (first choice) to 3.
CREATE TABLE contact_preferred_agents (
    contact_id uuid     NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    rank       smallint NOT NULL CHECK (rank BETWEEN 1 AND 3),
    agent_id   uuid     NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    PRIMARY KEY (contact_id, rank),
    UNIQUE (contact_id, agent_id)
);

-- Decided once, when the conversation is routed: the agents it goes to first
-- (ranked), and until when it waits for them (NULL: it does not wait).
-- passed_over_agent_id: the agent who left the customer unanswered; the queue
-- gives the conversation to anyone else eligible first.
ALTER TABLE conversations
    ADD COLUMN preferred_agents uuid[] NOT NULL DEFAULT '{}',
    ADD COLUMN affinity_until timestamptz,
    ADD COLUMN passed_over_agent_id uuid;

INSERT INTO automated_message_texts (kind, language, text) VALUES
    ('customer_timeout', 'en', 'We have not heard back from you, so we closed this conversation. Write to us again any time.'),
    ('customer_timeout', 'nl', 'We hebben niets meer van je gehoord, dus we hebben dit gesprek gesloten. Je kunt ons altijd opnieuw een bericht sturen.'),
    ('customer_timeout', 'de', 'Wir haben nichts mehr von Ihnen gehört und dieses Gespräch daher geschlossen. Schreiben Sie uns jederzeit wieder.'),
    ('customer_timeout', 'fr', 'Sans nouvelles de votre part, nous avons clos cette conversation. Écrivez-nous quand vous voulez.'),
    ('customer_timeout', 'es', 'Como no hemos tenido respuesta, hemos cerrado esta conversación. Escríbenos cuando quieras.');
