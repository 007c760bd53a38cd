-- Who made the last transfer, so the next agent still sees it after a reload.
ALTER TABLE conversations ADD COLUMN transferred_by uuid REFERENCES agents(id);
