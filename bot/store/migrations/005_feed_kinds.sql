-- Schema version 5: feeds have a kind, and coverage feeds belong to a city.
--   kind: 'catalog' (config/feeds.toml), 'server' (added by a server or imported from OPML),
--         'managed' (a Google News search the service keeps for a subscribed city).
--   managed_city: the city a managed feed covers (its default city is `city`, the same id).
--   needed_until: NULL while some subscription needs a managed feed; otherwise the time after
--         which it is retired (the grace period from config/coverage.toml).
-- Why a stored kind and not only `configured` / guild_feeds: a managed feed is in neither, and
-- operators list every feed with where it came from (`civic-alerts feeds list`).
ALTER TABLE feeds ADD COLUMN kind TEXT NOT NULL DEFAULT 'catalog';
ALTER TABLE feeds ADD COLUMN managed_city TEXT;
ALTER TABLE feeds ADD COLUMN needed_until REAL;
UPDATE feeds SET kind = 'server' WHERE configured = 0 AND url IN (SELECT url FROM guild_feeds);
CREATE INDEX feeds_managed_city ON feeds(managed_city) WHERE managed_city IS NOT NULL;
