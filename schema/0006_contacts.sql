-- Contacts, the customer ↔ contact link and its audit, customer erasure, and the
-- account's privacy notice (issue 6).

-- 0004_routing.sql adds it too; this keeps 0006 correct on its own.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS contact_id uuid;

-- A contact is a person the support team knows (a CRM record). A Messenger
-- customer (page + PSID) is linked to at most one contact; the link lives on the
-- customer row, so every later conversation of that customer comes linked.
CREATE TABLE contacts (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    email      text NOT NULL DEFAULT '',
    phone      text NOT NULL DEFAULT '',
    notes      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contacts_name ON contacts (lower(name), id);

ALTER TABLE customers
    ADD CONSTRAINT customers_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES contacts(id),
    ADD COLUMN contact_linked_at timestamptz,
    -- Set when the customer's data was erased (DELETE /api/v1/customers/{id}).
    ADD COLUMN erased_at timestamptz;
CREATE INDEX customers_contact ON customers (contact_id) WHERE contact_id IS NOT NULL;

-- Every link and unlink: who (the agent, or NULL for an admin), when, what.
CREATE TABLE contact_link_audit (
    id              bigserial PRIMARY KEY,
    action          text NOT NULL CHECK (action IN ('link', 'unlink')),
    customer_id     uuid NOT NULL REFERENCES customers(id),
    contact_id      uuid NOT NULL REFERENCES contacts(id),
    agent_id        uuid REFERENCES agents(id),
    actor           text NOT NULL CHECK (actor IN ('agent', 'admin')),
    conversation_id uuid REFERENCES conversations(id),
    reason          text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX contact_link_audit_contact ON contact_link_audit (contact_id, id);
CREATE INDEX contact_link_audit_customer ON contact_link_audit (customer_id, id);

-- An erased message keeps its row (kind, direction, times) with empty text and
-- attachments: the transcript shows a "deleted" marker where it was.
ALTER TABLE messages ADD COLUMN erased_at timestamptz;

-- Where the account's privacy notice lives; the desk links to it. '' when not set.
ALTER TABLE accounts ADD COLUMN privacy_notice_url text NOT NULL DEFAULT '';
