-- The model registry. A group row carries the counter of its versions: creating a version
-- increments it in the same transaction as the insert, so versions are 1, 2, 3 … with no gaps
-- under concurrent creates (SQLite has one writer; PostgreSQL locks the group row).
CREATE TABLE model_package_groups (
    id              {{ID}},
    arn             TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    description     TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    -- latest_version is the highest version ever issued; deleted versions are never reused.
    latest_version  BIGINT NOT NULL DEFAULT 0,
    -- last_created_at keeps creation times strictly increasing within a group, so that sorting
    -- by CreationTime agrees with the version order even if the clock steps back.
    last_created_at BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX model_package_groups_created ON model_package_groups (created_at, id);

CREATE INDEX model_package_groups_name ON model_package_groups (name, id);

-- Model packages: versions of a group (group_id set) or unversioned packages (group_id NULL,
-- version 0). spec holds the SageMaker documents kept as given (InferenceSpecification, …).
CREATE TABLE model_packages (
    id                   {{ID}},
    arn                  TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    group_id             BIGINT REFERENCES model_package_groups (id),
    group_name           TEXT NOT NULL DEFAULT '',
    version              BIGINT NOT NULL DEFAULT 0,
    description          TEXT NOT NULL,
    approval_status      TEXT NOT NULL,
    approval_description TEXT NOT NULL,
    status               TEXT NOT NULL,
    created_at           BIGINT NOT NULL,
    created_by           TEXT NOT NULL,
    modified_at          BIGINT NOT NULL,
    modified_by          TEXT NOT NULL,
    customer_metadata    TEXT NOT NULL,
    spec                 TEXT NOT NULL,
    client_token         TEXT
);

CREATE UNIQUE INDEX model_packages_version ON model_packages (group_id, version);

-- "Latest approved" (group, status, newest first) is one index probe.
CREATE INDEX model_packages_latest ON model_packages (group_id, approval_status, created_at DESC, id DESC);

-- A group's versions in time order, and unversioned packages (group_id NULL) in time order.
-- Lists across groups or by name sort their matches instead: every index here is written by
-- each CreateModelPackage, so only the ones hot queries need are kept.
CREATE INDEX model_packages_group_created ON model_packages (group_id, created_at, id);

CREATE UNIQUE INDEX model_packages_client_token ON model_packages (client_token) WHERE client_token IS NOT NULL;
