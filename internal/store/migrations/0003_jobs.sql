-- Processing and training jobs (and, later, transform jobs): one row per job. The columns hold
-- what lists filter and sort on and what the runner coordinates with; the request as sent, the
-- status transitions and the results are JSON owned by the jobs package.
CREATE TABLE jobs (
    id               {{ID}},
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL,
    arn              TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL,
    secondary_status TEXT NOT NULL DEFAULT '',
    -- phase is the runner's view: queued (waiting for a slot), running (claimed by owner), done.
    phase            TEXT NOT NULL,
    stop_requested   INTEGER NOT NULL DEFAULT 0,
    failure_reason   TEXT NOT NULL DEFAULT '',
    exit_message     TEXT NOT NULL DEFAULT '',
    spec             TEXT NOT NULL,
    result           TEXT NOT NULL DEFAULT '{}',
    transitions      TEXT NOT NULL DEFAULT '[]',
    -- owner is the runner that claimed the job; heartbeat_at proves it is alive; pid is the
    -- job's process group, so that a restarted runner can tell whether the process is gone.
    owner            TEXT NOT NULL DEFAULT '',
    heartbeat_at     BIGINT NOT NULL DEFAULT 0,
    pid              BIGINT NOT NULL DEFAULT 0,
    attempt          BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT NOT NULL DEFAULT 0,
    ended_at         BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX jobs_kind_created ON jobs (kind, created_at, id);

CREATE INDEX jobs_kind_name ON jobs (kind, name, id);

CREATE INDEX jobs_phase ON jobs (phase, id);
