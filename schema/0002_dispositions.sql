-- An agent's close may carry a disposition (the outcome: "resolved", "refund issued", ...).
ALTER TABLE conversations ADD COLUMN disposition text NOT NULL DEFAULT '';
