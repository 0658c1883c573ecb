-- Schema version 4: where a subscription came from. '' = made by a person (a chat command or
-- `civic-alerts subscriptions add`); 'config' = declared in config/destinations.toml.
-- Why per subscription and not per destination (destinations.grp / name): a file entry is one
-- URL × city × topics, and the same URL may also have subscriptions made by hand; the sync at
-- start removes only the 'config' rows the file no longer declares, never a hand-made one.
ALTER TABLE subscriptions ADD COLUMN source TEXT NOT NULL DEFAULT '';
