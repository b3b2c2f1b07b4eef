-- Pipelines: definitions, their executions and the steps of each execution. Executions and steps
-- are the pipeline engine's durable state; every transition is a row update in a transaction.
-- version counts the updates of a row, so that concurrent writers (the engine and an API call
-- answering a callback or stopping an execution) detect each other and re-read.
CREATE TABLE pipelines (
    id           {{ID}},
    arn          TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    description  TEXT NOT NULL DEFAULT '',
    role_arn     TEXT NOT NULL DEFAULT '',
    definition   TEXT NOT NULL,
    parallelism  BIGINT NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    -- version_id is PipelineVersionId: 1 at creation, incremented by every UpdatePipeline.
    version_id   BIGINT NOT NULL DEFAULT 1,
    client_token TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    last_run_at  BIGINT NOT NULL DEFAULT 0,
    created_by   TEXT NOT NULL DEFAULT '{}',
    modified_by  TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX pipelines_created ON pipelines (created_at, id);

CREATE INDEX pipelines_name ON pipelines (name, id);

-- One row per execution. definition is the definition the execution runs (a later
-- UpdatePipeline does not change it); parameters are the values given at start.
CREATE TABLE pipeline_executions (
    id             {{ID}},
    arn            TEXT NOT NULL UNIQUE,
    exec_id        TEXT NOT NULL UNIQUE,
    pipeline_id    BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    pipeline_arn   TEXT NOT NULL,
    pipeline_name  TEXT NOT NULL,
    version_id     BIGINT NOT NULL DEFAULT 1,
    display_name   TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    failure_reason TEXT NOT NULL DEFAULT '',
    definition     TEXT NOT NULL,
    parameters     TEXT NOT NULL DEFAULT '[]',
    parallelism    BIGINT NOT NULL DEFAULT 0,
    experiment     TEXT NOT NULL DEFAULT '{}',
    selective      TEXT NOT NULL DEFAULT '',
    client_token   TEXT NOT NULL DEFAULT '',
    stop_requested INTEGER NOT NULL DEFAULT 0,
    version        BIGINT NOT NULL DEFAULT 1,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    ended_at       BIGINT NOT NULL DEFAULT 0,
    created_by     TEXT NOT NULL DEFAULT '{}',
    modified_by    TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX pipeline_executions_pipeline ON pipeline_executions (pipeline_id, created_at, id);

CREATE INDEX pipeline_executions_status ON pipeline_executions (status, id);

CREATE UNIQUE INDEX pipeline_executions_token ON pipeline_executions (pipeline_id, client_token) WHERE client_token <> '';

-- One row per step that has started (steps of a branch not taken never get one). resource_arn
-- is what the step created (a job, a model, a model package); retry_at, when set, is when the
-- next attempt starts.
CREATE TABLE pipeline_steps (
    id               {{ID}},
    execution_id     BIGINT NOT NULL REFERENCES pipeline_executions (id) ON DELETE CASCADE,
    pipeline_id      BIGINT NOT NULL,
    name             TEXT NOT NULL,
    type             TEXT NOT NULL,
    display_name     TEXT NOT NULL DEFAULT '',
    description      TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL,
    attempt          BIGINT NOT NULL DEFAULT 1,
    failure_reason   TEXT NOT NULL DEFAULT '',
    metadata         TEXT NOT NULL DEFAULT '{}',
    properties       TEXT NOT NULL DEFAULT 'null',
    property_files   TEXT NOT NULL DEFAULT '{}',
    resource_arn     TEXT NOT NULL DEFAULT '',
    cache_key        TEXT NOT NULL DEFAULT '',
    cache_source     TEXT NOT NULL DEFAULT '',
    callback_token   TEXT NOT NULL DEFAULT '',
    retry_at         BIGINT NOT NULL DEFAULT 0,
    version          BIGINT NOT NULL DEFAULT 1,
    first_started_at BIGINT NOT NULL,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT NOT NULL DEFAULT 0,
    updated_at       BIGINT NOT NULL
);

CREATE UNIQUE INDEX pipeline_steps_name ON pipeline_steps (execution_id, name);

-- The cache: the newest successful run of a step of the same pipeline with the same key.
CREATE INDEX pipeline_steps_cache ON pipeline_steps (pipeline_id, name, cache_key, ended_at);

CREATE UNIQUE INDEX pipeline_steps_token ON pipeline_steps (callback_token) WHERE callback_token <> '';
