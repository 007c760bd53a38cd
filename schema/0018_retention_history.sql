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
