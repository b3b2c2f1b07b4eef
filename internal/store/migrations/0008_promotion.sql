-- Environments and promotion. An environment's configuration is a JSON document (its endpoint
-- names, variant settings, data capture, deployment policy, alarms, and for a remote one the
-- server's URL and access key). Names are unique and case-sensitive.
CREATE TABLE environments (
    id         {{ID}},
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A release is one deployment to an environment by a Deploy step. release_key is derived from
-- the execution, the step and the attempt, so a restarted step finds its release instead of
-- recording a second one.
CREATE TABLE releases (
    id                    {{ID}},
    release_key           TEXT NOT NULL UNIQUE,
    environment           TEXT NOT NULL,
    endpoint_name         TEXT NOT NULL,
    endpoint_config_name  TEXT NOT NULL,
    model_name            TEXT NOT NULL,
    model_package_arn     TEXT NOT NULL,
    model_package_group   TEXT NOT NULL,
    model_package_version BIGINT NOT NULL,
    execution_arn         TEXT NOT NULL,
    step_name             TEXT NOT NULL,
    approved_by           TEXT NOT NULL,
    approved_at           BIGINT NOT NULL,
    approval_comment      TEXT NOT NULL,
    status                TEXT NOT NULL,
    failure_reason        TEXT NOT NULL,
    evidence              TEXT NOT NULL,
    started_at            BIGINT NOT NULL,
    ended_at              BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

CREATE INDEX releases_environment ON releases (environment, id);

-- Triggers start deploy pipelines: on a registry event, on a schedule or from a webhook call.
-- event_cursor is the outbox position an event trigger has handled; next_run_at is a
-- schedule's next firing; token_hash is the SHA-256 of a webhook's secret token.
CREATE TABLE triggers (
    id           {{ID}},
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    pipeline     TEXT NOT NULL,
    spec         TEXT NOT NULL,
    token_hash   TEXT NOT NULL,
    event_cursor BIGINT NOT NULL,
    next_run_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

-- Every execution a trigger started, once per delivery key (an event id, a schedule time, a
-- webhook delivery id): a redelivered key finds its firing and starts nothing.
CREATE TABLE trigger_firings (
    id            {{ID}},
    trigger_name  TEXT NOT NULL,
    delivery_key  TEXT NOT NULL,
    execution_arn TEXT NOT NULL,
    reason        TEXT NOT NULL,
    fired_at      BIGINT NOT NULL,
    UNIQUE (trigger_name, delivery_key)
);
