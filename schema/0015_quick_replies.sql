-- Quick replies (issue 13): an account's library, managed by admins, and each
-- agent's personal replies. Exactly one owner: the account or the agent. Text
-- may hold slugs ({customer.first_name}, ...) that the desk fills at send time;
-- the API refuses an unknown slug before anything is stored.
CREATE TABLE quick_replies (
    id         uuid PRIMARY KEY,
    account_id uuid REFERENCES accounts(id),
    agent_id   uuid REFERENCES agents(id),
    title      text NOT NULL,
    text       text NOT NULL,
    tags       text[] NOT NULL DEFAULT '{}',
    locale     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((account_id IS NULL) <> (agent_id IS NULL))
);
CREATE INDEX quick_replies_account ON quick_replies (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX quick_replies_agent ON quick_replies (agent_id) WHERE agent_id IS NOT NULL;
