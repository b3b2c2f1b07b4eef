-- Access keys for SigV4. The secret must be kept retrievable: verifying a signature needs it.
CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    secret        TEXT NOT NULL,
    name          TEXT NOT NULL,
    is_root       INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- The outbox: every event is written in the transaction of the change it announces.
CREATE TABLE events (
    id          {{ID}},
    time        BIGINT NOT NULL,
    source      TEXT NOT NULL,
    detail_type TEXT NOT NULL,
    resources   TEXT NOT NULL,
    detail      TEXT NOT NULL
);

-- Tags of every resource kind, keyed by ARN.
CREATE TABLE tags (
    arn   TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
