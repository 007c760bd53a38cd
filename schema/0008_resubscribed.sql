-- When the health check found the app unsubscribed (Facebook does that after an hour
-- of failed deliveries) and subscribed it again: shown on the page.
ALTER TABLE pages ADD COLUMN resubscribed_at timestamptz;
