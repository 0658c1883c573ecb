-- Schema version 8: the language a subscription's alerts are written in (issue 13).
-- subscriptions.lang: a language code with a message catalogue (config/messages/<lang>.toml);
--   'en' for every subscription made before, and the default for a new one unless the
--   platform's locale (Discord's guild_locale/locale) or `--lang` says otherwise.
-- Version 7 belongs to the story-lead work; the runner applies files in order.
ALTER TABLE subscriptions ADD COLUMN lang TEXT NOT NULL DEFAULT 'en';
