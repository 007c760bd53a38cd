-- Business rules (issue 15): retention of transcripts and history import on connect.

-- Days after which a closed conversation's transcript and the account's stored
-- webhook events are erased by the daily retention schedule; 0 keeps them for ever.
ALTER TABLE accounts ADD COLUMN retention_days integer NOT NULL DEFAULT 0 CHECK (retention_days >= 0);
-- Finds a closed conversation that is due, without reading every transcript.
CREATE INDEX conversations_closed_at ON conversations (page_uuid, closed_at) WHERE status = 'closed';
CREATE INDEX inbound_events_received ON inbound_events (page_id, received_at);
CREATE INDEX inbound_unreadable_received ON inbound_unreadable (page_uuid, received_at);
-- When retention erased the conversation's transcript: a batch skips it from then on.
ALTER TABLE conversations ADD COLUMN retention_erased_at timestamptz;

-- Days of Messenger history imported when the page is connected; 0: none.
ALTER TABLE pages ADD COLUMN import_history_days integer NOT NULL DEFAULT 30 CHECK (import_history_days BETWEEN 0 AND 365);
-- The Facebook thread (Conversations API id, t_...) an imported conversation
-- came from: a resumed import finds it instead of adding another.
ALTER TABLE conversations ADD COLUMN facebook_thread_id text;
CREATE UNIQUE INDEX conversations_page_thread ON conversations (page_uuid, facebook_thread_id)
    WHERE facebook_thread_id IS NOT NULL;

-- The page's history import, shown on GET /api/v1/pages/{id} as "import".
-- Counters grow in the transaction that adds the rows, so a retried step never
-- counts twice.
CREATE TABLE page_history_imports (
    page_uuid     uuid PRIMARY KEY REFERENCES pages(id),
    status        text NOT NULL CHECK (status IN ('running', 'done', 'failed', 'off')),
    days          integer NOT NULL,
    conversations integer NOT NULL DEFAULT 0,
    messages      integer NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);
