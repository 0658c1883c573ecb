-- PostgreSQL schema version 2: the language a subscription's alerts are written in (issue 13;
-- SQLite's version 8). 'en' for every subscription made before.
ALTER TABLE subscriptions ADD COLUMN lang TEXT NOT NULL DEFAULT 'en';
