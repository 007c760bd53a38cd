-- Automated messages (issue 5): what the service itself says to the customer, kept
-- as data. automated_message_texts holds the default text of each kind per
-- language; a workstream switches each kind on or off and may override its text.

CREATE TABLE automated_message_texts (
    kind     text NOT NULL,
    language text NOT NULL, -- ISO 639-1 (the primary subtag of the workstream's BCP 47 tag)
    text     text NOT NULL,
    PRIMARY KEY (kind, language)
);

INSERT INTO automated_message_texts (kind, language, text) VALUES
    ('greeting', 'en', 'Thanks for your message! You are in the queue and an agent will be with you shortly.'),
    ('greeting', 'nl', 'Bedankt voor je bericht! Je staat in de wachtrij; een medewerker helpt je zo snel mogelijk.'),
    ('greeting', 'de', 'Danke für Ihre Nachricht! Sie sind in der Warteschlange; gleich ist jemand für Sie da.'),
    ('greeting', 'fr', 'Merci pour votre message ! Vous êtes dans la file d''attente ; un conseiller vous répond très bientôt.'),
    ('greeting', 'es', '¡Gracias por tu mensaje! Estás en la cola; un agente te atenderá en breve.'),
    ('agent_joined', 'en', '{agent_name} has joined the conversation.'),
    ('agent_joined', 'nl', '{agent_name} neemt nu deel aan het gesprek.'),
    ('agent_joined', 'de', '{agent_name} ist dem Gespräch beigetreten.'),
    ('agent_joined', 'fr', '{agent_name} a rejoint la conversation.'),
    ('agent_joined', 'es', '{agent_name} se ha unido a la conversación.'),
    ('agent_ended', 'en', 'The agent has ended this conversation. Write to us again any time.'),
    ('agent_ended', 'nl', 'De medewerker heeft dit gesprek beëindigd. Je kunt ons altijd opnieuw een bericht sturen.'),
    ('agent_ended', 'de', 'Das Gespräch wurde beendet. Schreiben Sie uns jederzeit wieder.'),
    ('agent_ended', 'fr', 'Le conseiller a mis fin à cette conversation. Écrivez-nous quand vous voulez.'),
    ('agent_ended', 'es', 'El agente ha finalizado esta conversación. Escríbenos cuando quieras.'),
    ('inactive_closed', 'en', 'We closed this conversation because it has been quiet for a while. Write to us again any time.'),
    ('inactive_closed', 'nl', 'We hebben dit gesprek gesloten omdat het een tijd stil was. Je kunt ons altijd opnieuw een bericht sturen.'),
    ('inactive_closed', 'de', 'Wir haben dieses Gespräch geschlossen, weil es eine Weile still war. Schreiben Sie uns jederzeit wieder.'),
    ('inactive_closed', 'fr', 'Nous avons clos cette conversation faute d''activité. Écrivez-nous quand vous voulez.'),
    ('inactive_closed', 'es', 'Hemos cerrado esta conversación por inactividad. Escríbenos cuando quieras.'),
    ('survey', 'en', 'How did we do? Tell us in one minute: {survey_url}'),
    ('survey', 'nl', 'Hoe hebben we je geholpen? Laat het ons in een minuut weten: {survey_url}'),
    ('survey', 'de', 'Wie zufrieden waren Sie? Sagen Sie es uns in einer Minute: {survey_url}'),
    ('survey', 'fr', 'Comment s''est passé cet échange ? Dites-le-nous en une minute : {survey_url}'),
    ('survey', 'es', '¿Qué tal te hemos atendido? Cuéntanoslo en un minuto: {survey_url}'),
    ('attachment_refused', 'en', 'Sorry, we cannot accept attachments here. Please describe it in a message instead.'),
    ('attachment_refused', 'nl', 'Sorry, we kunnen hier geen bijlagen aannemen. Beschrijf het alsjeblieft in een bericht.'),
    ('attachment_refused', 'de', 'Leider können wir hier keine Anhänge annehmen. Bitte beschreiben Sie es uns in einer Nachricht.'),
    ('attachment_refused', 'fr', 'Désolés, nous ne pouvons pas recevoir de pièces jointes ici. Décrivez-le-nous plutôt dans un message.'),
    ('attachment_refused', 'es', 'Lo sentimos, aquí no podemos recibir archivos adjuntos. Descríbenoslo en un mensaje, por favor.');

-- A workstream's choices; a kind without a row has its default (store/automated.go).
CREATE TABLE workstream_automated_messages (
    workstream_id uuid    NOT NULL REFERENCES workstreams(id) ON DELETE CASCADE,
    kind          text    NOT NULL,
    enabled       boolean NOT NULL,
    text          text,                    -- NULL: the default text in the workstream's language
    url_template  text    NOT NULL DEFAULT '', -- survey only: {conversation_id} is filled in
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workstream_id, kind)
);
