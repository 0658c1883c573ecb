-- Schema version 7: a story remembers which article leads it, so the lead is chosen by one rule
-- whatever order its articles arrive in (docs/architecture.md, "A story's lead").
-- lead_known: the lead's date came from the feed (0: first-seen time, a guess);
-- lead_key: the lead article's identity, the last tie-break. Old stories keep their lead.
ALTER TABLE stories ADD COLUMN lead_known INTEGER NOT NULL DEFAULT 1;
ALTER TABLE stories ADD COLUMN lead_key TEXT NOT NULL DEFAULT '';
