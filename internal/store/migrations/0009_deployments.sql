-- Deployments: one row per endpoint update (UpdateEndpoint to a new config), kept after it ends
-- and after the endpoint is deleted, as the evidence of what happened. endpoint_id and
-- generation name the update (an endpoint's generation grows with every request), so a
-- restarted controller finds the deployment it was running instead of starting a second one.
-- record is JSON owned by the hosting package: configs, strategy, traffic steps with the alarm
-- states and metrics seen at each, the outcome and its reason.
CREATE TABLE deployments (
    id            {{ID}},
    endpoint_id   BIGINT NOT NULL,
    endpoint_arn  TEXT NOT NULL,
    endpoint_name TEXT NOT NULL,
    generation    BIGINT NOT NULL,
    status        TEXT NOT NULL,
    started_at    BIGINT NOT NULL,
    ended_at      BIGINT NOT NULL,
    record        TEXT NOT NULL
);

CREATE UNIQUE INDEX deployments_update ON deployments (endpoint_id, generation);

CREATE INDEX deployments_endpoint ON deployments (endpoint_arn, id);
