-- Operating hours and overflow before queueing (issue 15, parts 1 and 2).

-- A calendar (calendar.Hours as JSON) on a workstream, or on a queue where it
-- differs (the queue's overrides); NULL: always open.
ALTER TABLE workstreams
    ADD COLUMN operating_hours jsonb,
    -- {"action": "assign_anyway"|"transfer"|"end", "queue_id"?}; NULL: assign anyway.
    ADD COLUMN out_of_hours    jsonb,
    -- {"max_waiting", "action", "queue_id"?}; NULL: no overflow before queueing.
    ADD COLUMN overflow        jsonb;
ALTER TABLE queues ADD COLUMN operating_hours jsonb;

-- What happened to a conversation before it entered its queue, decided once
-- (the primary key) and kept with its reason. A conversation with no row entered
-- its queue as routed.
CREATE TABLE queueing_decisions (
    conversation_id uuid PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    -- The queue routing chose, whose hours or length decided.
    queue_id        uuid NOT NULL REFERENCES queues(id),
    reason          text NOT NULL CHECK (reason IN ('out_of_hours', 'max_waiting')),
    action          text NOT NULL CHECK (action IN ('assign_anyway', 'transfer', 'end')),
    -- Where the conversation waits: queue_id, the transfer's queue, or NULL (ended).
    to_queue_id     uuid REFERENCES queues(id),
    -- The queue's next opening, out of hours.
    next_opening    timestamptz,
    -- Out of hours with assign_anyway: the conversation enters to_queue_id at this
    -- time (the conversation workflow's durable timer), not before.
    held_until      timestamptz,
    released_at     timestamptz,
    decided_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX queueing_decisions_held ON queueing_decisions (held_until) WHERE released_at IS NULL AND held_until IS NOT NULL;

INSERT INTO automated_message_texts (kind, language, text) VALUES
    ('out_of_hours', 'en', 'Thanks for your message! We are closed right now and back {next_opening}.'),
    ('out_of_hours', 'nl', 'Bedankt voor je bericht! We zijn nu gesloten en weer bereikbaar op {next_opening}.'),
    ('out_of_hours', 'de', 'Danke für Ihre Nachricht! Wir sind gerade geschlossen und wieder da am {next_opening}.'),
    ('out_of_hours', 'fr', 'Merci pour votre message ! Nous sommes fermés pour le moment et de retour le {next_opening}.'),
    ('out_of_hours', 'es', '¡Gracias por tu mensaje! Ahora estamos cerrados y volvemos el {next_opening}.'),
    ('queue_full', 'en', 'Thanks for your message! All our agents are busy right now, so we cannot take your conversation. Please write to us again later.'),
    ('queue_full', 'nl', 'Bedankt voor je bericht! Al onze medewerkers zijn nu bezet, dus we kunnen je gesprek niet aannemen. Stuur ons later opnieuw een bericht.'),
    ('queue_full', 'de', 'Danke für Ihre Nachricht! Alle Mitarbeitenden sind gerade beschäftigt, daher können wir Ihr Gespräch nicht annehmen. Bitte schreiben Sie uns später wieder.'),
    ('queue_full', 'fr', 'Merci pour votre message ! Tous nos conseillers sont occupés, nous ne pouvons pas prendre votre conversation. Écrivez-nous plus tard.'),
    ('queue_full', 'es', '¡Gracias por tu mensaje! Todos nuestros agentes están ocupados y no podemos atender tu conversación. Escríbenos más tarde.');
