-- A Facebook page added again (to another account, or after deletion) keeps its
-- callback URL and verify token: every page row of one Facebook page shares the
-- webhook id of the first, which is what the callback URL names.
ALTER TABLE pages ADD COLUMN webhook_id uuid;
UPDATE pages SET webhook_id = id;
ALTER TABLE pages ALTER COLUMN webhook_id SET NOT NULL;
CREATE INDEX pages_webhook_id ON pages (webhook_id);

ALTER TABLE accounts ADD COLUMN deleted_at timestamptz;
