-- Hosting: models, endpoint configurations and endpoints. Models and configs are immutable once
-- created; spec holds the SageMaker document as the hosting package keeps it. ARNs carry the
-- lower-cased name, so the UNIQUE arn makes names unique regardless of case, as on SageMaker.
CREATE TABLE models (
    id         {{ID}},
    arn        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    spec       TEXT NOT NULL
);

CREATE INDEX models_created ON models (created_at, id);

CREATE INDEX models_name ON models (name, id);

CREATE TABLE endpoint_configs (
    id         {{ID}},
    arn        TEXT NOT NULL UNIQUE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    spec       TEXT NOT NULL
);

CREATE INDEX endpoint_configs_created ON endpoint_configs (created_at, id);

CREATE INDEX endpoint_configs_name ON endpoint_configs (name, id);

-- Endpoints. config_name is the configuration in service (for a new endpoint, the one being
-- created); desired_config_name is the one the endpoint should run, which differs from it while
-- an UpdateEndpoint is in flight. generation grows with every request that changes what the
-- endpoint should be, so the controller can tell a stale view from a current one. state is JSON
-- owned by the hosting package: variant summaries, the deployed plan, pending changes.
CREATE TABLE endpoints (
    id                  {{ID}},
    arn                 TEXT NOT NULL UNIQUE,
    name                TEXT NOT NULL,
    config_name         TEXT NOT NULL,
    desired_config_name TEXT NOT NULL,
    status              TEXT NOT NULL,
    failure_reason      TEXT NOT NULL DEFAULT '',
    generation          BIGINT NOT NULL,
    created_at          BIGINT NOT NULL,
    modified_at         BIGINT NOT NULL,
    state               TEXT NOT NULL
);

CREATE INDEX endpoints_created ON endpoints (created_at, id);

CREATE INDEX endpoints_name ON endpoints (name, id);

CREATE INDEX endpoints_status ON endpoints (status, id);

CREATE INDEX endpoints_config ON endpoints (config_name);

CREATE INDEX endpoints_desired_config ON endpoints (desired_config_name);
