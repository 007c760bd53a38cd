-- The first schema of the Facebook channel. Never edit an applied migration: add 0002_*.sql.

CREATE TABLE accounts (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    app_id         text NOT NULL,
    app_secret_enc bytea,               -- AES-GCM; NULL once the channel is deleted
    status         text NOT NULL DEFAULT 'active',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queues (
    id         uuid PRIMARY KEY,
    account_id uuid REFERENCES accounts(id),
    name       text NOT NULL,
    priority   integer NOT NULL DEFAULT 0,
    is_default boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workstreams (
    id               uuid PRIMARY KEY,
    account_id       uuid NOT NULL REFERENCES accounts(id),
    name             text NOT NULL,
    default_queue_id uuid NOT NULL REFERENCES queues(id),
    human_agent_tag  boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pages (
    id                   uuid PRIMARY KEY,
    account_id           uuid NOT NULL REFERENCES accounts(id),
    page_id              text NOT NULL,  -- Facebook's page id
    name                 text NOT NULL,
    access_token_enc     bytea,          -- AES-GCM; NULL once the channel is deleted
    verify_token         text NOT NULL,
    workstream_id        uuid REFERENCES workstreams(id),
    provisioning_status  text NOT NULL DEFAULT 'pending',
    last_error           text NOT NULL DEFAULT '',
    token_expires_at     timestamptz,
    last_health_check_at timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- The webhook routes an entry by Facebook page id among the account's pages.
CREATE UNIQUE INDEX pages_account_page_live ON pages (account_id, page_id)
    WHERE provisioning_status <> 'deleted';
CREATE INDEX pages_page_id ON pages (page_id);

CREATE TABLE agents (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    email               text NOT NULL UNIQUE,
    token_hash          bytea NOT NULL UNIQUE,  -- SHA-256 of the bearer token; the token itself is never stored
    capacity            integer NOT NULL CHECK (capacity >= 0),
    presence            text NOT NULL DEFAULT 'offline',
    presence_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Longest-idle first: the agent whose last assignment is oldest gets the next conversation.
    last_assigned_at    timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z',
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE queue_members (
    queue_id uuid NOT NULL REFERENCES queues(id),
    agent_id uuid NOT NULL REFERENCES agents(id),
    PRIMARY KEY (queue_id, agent_id)
);

CREATE TABLE customers (
    id                 uuid PRIMARY KEY,
    page_id            text NOT NULL,
    psid               text NOT NULL,
    name               text NOT NULL DEFAULT '',
    profile_pic        text NOT NULL DEFAULT '',
    locale             text NOT NULL DEFAULT '',
    profile_fetched_at timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (page_id, psid)
);

CREATE TABLE conversations (
    id                       uuid PRIMARY KEY,
    page_uuid                uuid NOT NULL REFERENCES pages(id),
    page_id                  text NOT NULL,
    customer_id              uuid NOT NULL REFERENCES customers(id),
    status                   text NOT NULL,  -- waiting | bot | assigned | closed
    queue_id                 uuid REFERENCES queues(id),
    agent_id                 uuid REFERENCES agents(id),
    enqueued_at              timestamptz,
    opened_at                timestamptz NOT NULL DEFAULT now(),
    closed_at                timestamptz,
    close_reason             text NOT NULL DEFAULT '',
    last_customer_message_at timestamptz
);
CREATE INDEX conversations_waiting ON conversations (queue_id, enqueued_at) WHERE status = 'waiting';
CREATE INDEX conversations_agent_open ON conversations (agent_id) WHERE status = 'assigned';
CREATE INDEX conversations_customer ON conversations (customer_id, opened_at);

-- Webhook events land here before the conversation workflow is signalled, so that
-- workflow history carries only references, never the customer's words.
CREATE TABLE inbound_events (
    page_id     text NOT NULL,
    event_key   text NOT NULL,
    psid        text NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (page_id, event_key)
);

CREATE TABLE messages (
    id                  uuid PRIMARY KEY,
    conversation_id     uuid NOT NULL REFERENCES conversations(id),
    page_id             text NOT NULL,
    direction           text NOT NULL,  -- inbound | outbound
    sender              text NOT NULL,  -- customer | agent | bot | system | page
    kind                text NOT NULL,
    text                text NOT NULL DEFAULT '',
    attachments         jsonb NOT NULL DEFAULT '[]',
    status              text NOT NULL,
    error               text NOT NULL DEFAULT '',
    reason              text NOT NULL DEFAULT '',
    facebook_message_id text,
    agent_id            uuid REFERENCES agents(id),
    sent_at             timestamptz,  -- when Facebook (or the customer) sent it
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Facebook redelivers: one row per page and Facebook message id.
CREATE UNIQUE INDEX messages_page_mid ON messages (page_id, facebook_message_id)
    WHERE facebook_message_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id, created_at);

-- What each agent's SSE stream replays from Last-Event-ID.
CREATE TABLE agent_events (
    id              bigserial PRIMARY KEY,
    agent_id        uuid NOT NULL REFERENCES agents(id),
    name            text NOT NULL,
    conversation_id uuid NOT NULL,
    -- The writer's idempotency key: an activity retried after a commit adds nothing.
    dedup_key       text NOT NULL UNIQUE,
    data            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, id);
