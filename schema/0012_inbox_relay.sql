-- The webhook inbox and its relay (issue 12).
--
-- A delivery is answered 200 once its events are committed here; a relay in the
-- starter then signals each into its conversation workflow and marks it relayed.
-- relayed_at IS NULL is "pending". Rows from before this migration were signalled
-- before their delivery was answered, so they start out relayed.
ALTER TABLE inbound_events ADD COLUMN relayed_at timestamptz DEFAULT now();
ALTER TABLE inbound_events ALTER COLUMN relayed_at DROP DEFAULT;

-- Commit order: one customer's events reach its conversation in seq order.
ALTER TABLE inbound_events ADD COLUMN seq bigserial;

-- The page (our id) the event was routed to, for the signal; NULL on old rows.
ALTER TABLE inbound_events ADD COLUMN page_uuid uuid;

-- The W3C traceparent of the webhook request that delivered the event, so the
-- relay's signal continues the delivery's trace (no secret or personal data).
ALTER TABLE inbound_events ADD COLUMN traceparent text;

-- The relay's work list (the pending conversations, oldest first) and the
-- backlog metrics read only pending rows.
CREATE INDEX inbound_events_pending ON inbound_events (seq) WHERE relayed_at IS NULL;
CREATE INDEX inbound_events_pending_conversation ON inbound_events (page_id, psid, seq) WHERE relayed_at IS NULL;

-- Parts of deliveries the service could not read (a field of the wrong type, an
-- unknown shape), kept as they came so nothing Facebook sent is lost, with why.
-- page_id is '' when the entry itself was unreadable, psid '' when the sender
-- could not be read. A redelivery of the same bytes adds nothing.
CREATE TABLE inbound_unreadable (
    page_id     text NOT NULL,
    raw_sha256  text NOT NULL,
    page_uuid   uuid,
    psid        text NOT NULL DEFAULT '',
    reason      text NOT NULL,
    raw         bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (page_id, raw_sha256)
);
CREATE INDEX inbound_unreadable_customer ON inbound_unreadable (page_id, psid) WHERE psid <> '';
