-- Every inbound message row remembers the webhook event it came from, so events
-- without a Facebook message id of their own (reactions, referrals) are recorded once.
ALTER TABLE messages ADD COLUMN event_key text;
CREATE UNIQUE INDEX messages_page_event_key ON messages (page_id, event_key) WHERE event_key IS NOT NULL;
ALTER TABLE messages ADD COLUMN edited_at timestamptz;
