-- Schema version 6: alert rules per subscription (issue 14). Version 5 belongs to the coverage
-- work (managed feeds); the runner applies files in order and skips the gap.
-- subscriptions.rules: the frozen bot.rules.Rules as JSON, '{}' = the defaults (no change).
-- deliveries.hold: '' = due at next_attempt; 'outlets' = waiting for more independent outlets
--   (next_attempt is the end of the maximum hold, or far in the future for "never").
-- deliveries.digest: 1 = goes out in one digest message with the others due at that moment.
-- stories.independent: independent outlets behind the story (owners and syndicated copies
--   counted once; bot.corroboration), kept up to date by every save.
ALTER TABLE subscriptions ADD COLUMN rules TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deliveries ADD COLUMN hold TEXT NOT NULL DEFAULT '';
ALTER TABLE deliveries ADD COLUMN digest INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN independent INTEGER NOT NULL DEFAULT 0;
UPDATE stories SET independent = json_array_length(outlets);
CREATE INDEX deliveries_held ON deliveries(story_id) WHERE hold <> '';
