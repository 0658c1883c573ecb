-- Schema version 2: "all topics" is stored as the wildcard ["*"] (topics are data in
-- config/topics.toml; a topic added later must reach such subscriptions). Subscriptions that
-- list all three topics of version 1 meant "all topics": rewrite them to the wildcard.
UPDATE subscriptions SET topics = '["*"]'
WHERE (SELECT count(DISTINCT t.value) FROM json_each(subscriptions.topics) t
       WHERE t.value IN ('immigration-enforcement', 'national-guard', 'sanctuary-policy')) = 3;
