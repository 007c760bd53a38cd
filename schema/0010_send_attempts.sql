-- Sending a reply at most once (RELIABILITY.md, problems 3 and 4).
--
-- send_attempted_at is committed before the Send API is called. A retry that finds
-- it set, with no facebook_message_id, must not call Facebook again: it waits for
-- Facebook's echo (our message id comes back as its metadata) and otherwise reports
-- the outcome as unknown. A reply still 'sending' without it was never handed to
-- Facebook, which is what lets the sweeper fail replies the desk lost.
ALTER TABLE messages ADD COLUMN send_attempted_at timestamptz;

-- The sweeper looks for old 'sending' rows without an attempt.
CREATE INDEX messages_sending ON messages (created_at) WHERE status = 'sending';

-- A send waiting for its echo looks it up by our metadata, whether or not the
-- conversation workflow has recorded it yet.
CREATE INDEX inbound_events_echo_metadata ON inbound_events (page_id, (payload->'message'->>'metadata'))
    WHERE kind = 'echo';
