-- Clustering in the database (issue 15): each article's headline under its signature keys
-- (bot.stories.signature_keys: the normalized-title fingerprint and token pairs), so candidate
-- stories are an index range read per key inside the save transaction, not an in-memory index.
-- `published` is the article's, copied so a key's rows are read newest first within the window.
-- Keys past the window are dropped by prune (KEY_RETENTION); `key_headlines` fills the window
-- of an older database at start (meta 'headline_keys' records the key version).
CREATE TABLE headline_keys (
    key        INTEGER NOT NULL,
    published  REAL NOT NULL,
    article_id INTEGER NOT NULL,
    PRIMARY KEY (key, published, article_id)
) WITHOUT ROWID;
