-- Schema version 1. Times are Unix epoch seconds (REAL, UTC).

CREATE TABLE feeds (
    url                TEXT PRIMARY KEY,
    name               TEXT,
    city               TEXT,
    interval           INTEGER,
    configured         INTEGER NOT NULL DEFAULT 0,   -- listed in the config catalogue now
    etag               TEXT,
    last_modified      TEXT,
    body_hash          TEXT,
    last_status        INTEGER,
    last_error         TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_checked       REAL,
    next_check         REAL,
    items_seen         INTEGER NOT NULL DEFAULT 0,
    disabled           INTEGER NOT NULL DEFAULT 0,
    disabled_reason    TEXT
);

CREATE TABLE guild_feeds (
    guild_id INTEGER NOT NULL,
    url      TEXT NOT NULL REFERENCES feeds(url) ON DELETE CASCADE,
    name     TEXT,
    added    REAL NOT NULL,
    PRIMARY KEY (guild_id, url)
) WITHOUT ROWID;

CREATE TABLE stories (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    url         TEXT NOT NULL,
    source      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    image_url   TEXT,
    published   REAL NOT NULL,
    first_seen  REAL NOT NULL,
    updated     REAL NOT NULL,
    link_rank   INTEGER NOT NULL,       -- 0 publisher URL, 1 Google News redirect
    outlets     TEXT NOT NULL,          -- JSON list, in the order they reported it
    topics      TEXT NOT NULL,          -- JSON list
    cities      TEXT NOT NULL,          -- JSON list
    why         TEXT NOT NULL           -- JSON list
);
CREATE INDEX stories_published ON stories(published);

CREATE TABLE story_cities (
    city     TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    PRIMARY KEY (city, story_id)
) WITHOUT ROWID;
CREATE INDEX story_cities_story ON story_cities(story_id);

CREATE TABLE story_topics (
    topic    TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    PRIMARY KEY (topic, story_id)
) WITHOUT ROWID;
CREATE INDEX story_topics_story ON story_topics(story_id);

CREATE TABLE articles (
    id              INTEGER PRIMARY KEY,
    identity        TEXT NOT NULL UNIQUE,
    feed_url        TEXT NOT NULL,
    guid            TEXT,
    url             TEXT NOT NULL,
    link            TEXT NOT NULL,
    title           TEXT NOT NULL,
    summary         TEXT NOT NULL,
    published       REAL NOT NULL,
    published_known INTEGER NOT NULL,
    source          TEXT NOT NULL,
    source_url      TEXT,
    image_url       TEXT,
    is_google_news  INTEGER NOT NULL DEFAULT 0,
    story_id        INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    fetched         REAL NOT NULL
);
CREATE UNIQUE INDEX articles_feed_guid ON articles(feed_url, guid) WHERE guid IS NOT NULL;
CREATE INDEX articles_story ON articles(story_id);
CREATE INDEX articles_fetched ON articles(fetched);

CREATE VIRTUAL TABLE stories_fts USING fts5(
    title, summary,
    content='stories', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER stories_ai AFTER INSERT ON stories BEGIN
    INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER stories_ad AFTER DELETE ON stories BEGIN
    INSERT INTO stories_fts(stories_fts, rowid, title, summary) VALUES ('delete', old.id, old.title, old.summary);
END;
CREATE TRIGGER stories_au AFTER UPDATE OF title, summary ON stories BEGIN
    INSERT INTO stories_fts(stories_fts, rowid, title, summary) VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO stories_fts(rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;

CREATE TABLE subscriptions (
    id           INTEGER PRIMARY KEY,
    guild_id     INTEGER NOT NULL,
    channel_id   INTEGER NOT NULL,
    city         TEXT NOT NULL,          -- a city id, or '*' (every city: the console adapter)
    topics       TEXT NOT NULL,          -- JSON list
    paused       INTEGER NOT NULL DEFAULT 0,
    pause_reason TEXT,
    notified     INTEGER NOT NULL DEFAULT 0,  -- the server was told about the pause
    created      REAL NOT NULL,
    UNIQUE (channel_id, city)
);
CREATE INDEX subscriptions_city ON subscriptions(city);
CREATE INDEX subscriptions_guild ON subscriptions(guild_id);

-- The outbox: one row per (story, channel), written in the same transaction as the story.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    story_id        INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES subscriptions(id) ON DELETE SET NULL,
    channel_id      INTEGER NOT NULL,
    guild_id        INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent')),
    nonce           TEXT,
    message_id      INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    REAL NOT NULL,
    last_error      TEXT,
    created         REAL NOT NULL,
    sent_at         REAL,
    edit_pending    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (story_id, channel_id)
);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt);
CREATE INDEX deliveries_channel ON deliveries(channel_id);
CREATE INDEX deliveries_edit ON deliveries(edit_pending) WHERE edit_pending = 1;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
