-- pass_key names the queue pass that last assigned or offered a conversation
-- (the queue workflow's run and pass number, the same for every attempt of that
-- pass's activity). A retried pass whose first attempt committed assignments but
-- whose answer was lost (the worker died, the activity timed out) answers them
-- again, so their conversations' workflows are still told.
ALTER TABLE conversations ADD COLUMN pass_key text;
CREATE INDEX conversations_pass_key ON conversations (pass_key) WHERE pass_key IS NOT NULL;
