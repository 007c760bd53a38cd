-- A workstream's bot has the conversation first; what it hands over stays visible.
ALTER TABLE conversations ADD COLUMN bot_summary text NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN bot_handoff_reason text NOT NULL DEFAULT '';
