-- The webhook's account lookup (store.WebhookAccounts) is cached in each starter's
-- memory. Every change to what it returns bumps one version number and notifies
-- channel webhook_accounts with it, so that every starter drops its cache
-- (package agentevents's LISTEN connection carries it), and the inbox insert
-- refuses events routed with an older version (the fence: a delivery that starts
-- after a change commits is judged on the new data even on a replica the
-- notification has not reached yet).
--
-- The bump runs at commit (a deferred constraint trigger), after the writing
-- transaction has taken its other locks: two admin transactions cannot deadlock
-- on the version row, and it is held only for the commit.
CREATE TABLE webhook_accounts_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO webhook_accounts_version (version) VALUES (1);

CREATE FUNCTION webhook_accounts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v bigint;
BEGIN
    UPDATE webhook_accounts_version SET version = version + 1 RETURNING version INTO v;
    PERFORM pg_notify('webhook_accounts', v::text);
    RETURN NULL;
END
$$;

-- What the lookup reads of a page: its callback (webhook_id), account, Facebook
-- page id, verify token and whether it is live (not deleting or deleted). The
-- health check's status writes that keep a page live bump nothing.
CREATE CONSTRAINT TRIGGER pages_webhook_accounts_insert AFTER INSERT OR DELETE ON pages
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_accounts_changed();
CREATE CONSTRAINT TRIGGER pages_webhook_accounts_update
    AFTER UPDATE OF webhook_id, account_id, page_id, verify_token, provisioning_status ON pages
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (
        OLD.webhook_id IS DISTINCT FROM NEW.webhook_id OR
        OLD.account_id IS DISTINCT FROM NEW.account_id OR
        OLD.page_id IS DISTINCT FROM NEW.page_id OR
        OLD.verify_token IS DISTINCT FROM NEW.verify_token OR
        (OLD.provisioning_status IN ('deleting', 'deleted')) IS DISTINCT FROM
            (NEW.provisioning_status IN ('deleting', 'deleted')))
    EXECUTE FUNCTION webhook_accounts_changed();

-- What it reads of an account: its app secret (NULL once the channel is deleted).
CREATE CONSTRAINT TRIGGER accounts_webhook_accounts_delete AFTER DELETE ON accounts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION webhook_accounts_changed();
CREATE CONSTRAINT TRIGGER accounts_webhook_accounts_update AFTER UPDATE OF app_secret_enc ON accounts
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.app_secret_enc IS DISTINCT FROM NEW.app_secret_enc)
    EXECUTE FUNCTION webhook_accounts_changed();
