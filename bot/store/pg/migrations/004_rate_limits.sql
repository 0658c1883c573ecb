-- PostgreSQL schema version 4: send rates shared by every worker process (issue 15 item 3).
-- One row per bucket (e.g. "sends:discord"): `tat`, the theoretical arrival time of the next
-- send (GCRA), on the database's clock so workers on several machines agree.
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    tat    DOUBLE PRECISION NOT NULL
);
