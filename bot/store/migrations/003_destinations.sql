-- Schema version 3: subscriptions target destinations (platform + text address), the outbox
-- keeps the platform's message reference as text, and edits are keyed by destination + message.
-- Every existing row is carried over: Discord rows become platform 'discord' with the channel id
-- and guild id as text; the console's (guild 0, channel 0) becomes platform 'console'.

CREATE TABLE destinations (
    id            INTEGER PRIMARY KEY,
    platform      TEXT NOT NULL,
    address       TEXT NOT NULL,          -- channel id, room id, push URL (may hold secrets)
    grp           TEXT NOT NULL DEFAULT '',  -- server/workspace; '' when the platform has none
    name          TEXT,                   -- display form; never a secret
    paused        INTEGER NOT NULL DEFAULT 0,
    pause_reason  TEXT,
    notified      INTEGER NOT NULL DEFAULT 0,  -- the owner was told about the pause
    last_success  REAL,
    last_error    TEXT,
    last_error_at REAL,
    created       REAL NOT NULL,
    UNIQUE (platform, address)
);
CREATE INDEX destinations_grp ON destinations(platform, grp);

INSERT INTO destinations(platform, address, grp, paused, pause_reason, notified, created)
SELECT CASE WHEN guild_id = 0 AND channel_id = 0 THEN 'console' ELSE 'discord' END,
       CASE WHEN guild_id = 0 AND channel_id = 0 THEN 'stdout' ELSE CAST(channel_id AS TEXT) END,
       CASE WHEN guild_id = 0 AND channel_id = 0 THEN '' ELSE CAST(guild_id AS TEXT) END,
       MAX(paused), MAX(pause_reason), MAX(notified), MIN(created)
FROM subscriptions GROUP BY guild_id, channel_id;

-- deliveries whose subscription is gone still need a destination row to be carried over
INSERT INTO destinations(platform, address, grp, created)
SELECT DISTINCT
       CASE WHEN d.guild_id = 0 AND d.channel_id = 0 THEN 'console' ELSE 'discord' END,
       CASE WHEN d.guild_id = 0 AND d.channel_id = 0 THEN 'stdout' ELSE CAST(d.channel_id AS TEXT) END,
       CASE WHEN d.guild_id = 0 AND d.channel_id = 0 THEN '' ELSE CAST(d.guild_id AS TEXT) END,
       MIN(d.created)
FROM deliveries d
WHERE NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.channel_id = d.channel_id)
GROUP BY d.guild_id, d.channel_id;

CREATE TABLE subscriptions_new (
    id             INTEGER PRIMARY KEY,
    destination_id INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    city           TEXT NOT NULL,     -- a city id, or '*' (every city)
    topics         TEXT NOT NULL,     -- JSON list; ["*"] = every topic, including later ones
    created        REAL NOT NULL,
    UNIQUE (destination_id, city)
);
INSERT INTO subscriptions_new(id, destination_id, city, topics, created)
SELECT s.id, dest.id, s.city, s.topics, s.created
FROM subscriptions s JOIN destinations dest ON dest.address =
    CASE WHEN s.guild_id = 0 AND s.channel_id = 0 THEN 'stdout' ELSE CAST(s.channel_id AS TEXT) END
    AND dest.platform = CASE WHEN s.guild_id = 0 AND s.channel_id = 0 THEN 'console' ELSE 'discord' END;

CREATE TABLE deliveries_new (
    id              INTEGER PRIMARY KEY,
    story_id        INTEGER NOT NULL REFERENCES stories(id) ON DELETE CASCADE,
    subscription_id INTEGER REFERENCES subscriptions_new(id) ON DELETE SET NULL,
    destination_id  INTEGER NOT NULL REFERENCES destinations(id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent')),
    idem_key        TEXT,             -- idempotency key sent with the message (Discord: nonce)
    message_ref     TEXT,             -- the platform's reference to the message, as text
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt    REAL NOT NULL,
    last_error      TEXT,
    created         REAL NOT NULL,
    sent_at         REAL,
    edit_pending    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (story_id, destination_id)
);
INSERT INTO deliveries_new(id, story_id, subscription_id, destination_id, status, idem_key,
                           message_ref, attempts, next_attempt, last_error, created, sent_at,
                           edit_pending)
SELECT d.id, d.story_id, d.subscription_id, dest.id, d.status, d.nonce,
       CASE WHEN d.message_id IS NULL THEN NULL ELSE CAST(d.message_id AS TEXT) END,
       d.attempts, d.next_attempt, d.last_error, d.created, d.sent_at, d.edit_pending
FROM deliveries d JOIN destinations dest ON dest.address =
    CASE WHEN d.guild_id = 0 AND d.channel_id = 0 THEN 'stdout' ELSE CAST(d.channel_id AS TEXT) END
    AND dest.platform = CASE WHEN d.guild_id = 0 AND d.channel_id = 0 THEN 'console' ELSE 'discord' END;

DROP TABLE deliveries;
DROP TABLE subscriptions;
ALTER TABLE subscriptions_new RENAME TO subscriptions;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX subscriptions_city ON subscriptions(city);
CREATE INDEX subscriptions_destination ON subscriptions(destination_id);
CREATE INDEX deliveries_due ON deliveries(status, next_attempt);
CREATE INDEX deliveries_destination ON deliveries(destination_id);
CREATE INDEX deliveries_edit ON deliveries(edit_pending) WHERE edit_pending = 1;
CREATE INDEX deliveries_message ON deliveries(destination_id, message_ref);

-- languages (filled by ingest when a feed declares one or the text is detected)
ALTER TABLE feeds ADD COLUMN lang TEXT;
ALTER TABLE articles ADD COLUMN lang TEXT;
