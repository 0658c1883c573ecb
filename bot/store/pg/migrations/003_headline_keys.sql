-- PostgreSQL schema version 3: clustering in the database (issue 15; SQLite's 018). Each
-- article's headline under its signature keys (bot.stories.signature_keys), read per key as an
-- index range inside the save transaction; `published` is the article's.
CREATE TABLE headline_keys (
    key        BIGINT NOT NULL,
    published  DOUBLE PRECISION NOT NULL,
    article_id BIGINT NOT NULL,
    PRIMARY KEY (key, published, article_id)
);
CREATE INDEX headline_keys_published ON headline_keys(published);
