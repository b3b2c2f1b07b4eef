-- Metric alarms (CloudWatch's PutMetricAlarm): the definition as a JSON document, and the
-- current state in columns so that a state change is a single-row update. Names are unique and
-- case-sensitive, as in CloudWatch. Metric data itself lives in memory (internal/alarm).
CREATE TABLE alarms (
    id                    {{ID}},
    name                  TEXT NOT NULL UNIQUE,
    arn                   TEXT NOT NULL,
    spec                  TEXT NOT NULL,
    state_value           TEXT NOT NULL,
    state_reason          TEXT NOT NULL,
    state_reason_data     TEXT NOT NULL,
    state_updated_at      BIGINT NOT NULL,
    state_transitioned_at BIGINT NOT NULL,
    config_updated_at     BIGINT NOT NULL,
    created_at            BIGINT NOT NULL
);

-- Alarm history outlives the alarm, as in CloudWatch, so it is keyed by name, not by row id.
CREATE TABLE alarm_history (
    id         {{ID}},
    alarm_name TEXT NOT NULL,
    alarm_type TEXT NOT NULL,
    time       BIGINT NOT NULL,
    item_type  TEXT NOT NULL,
    summary    TEXT NOT NULL,
    data       TEXT NOT NULL
);

CREATE INDEX alarm_history_name_time ON alarm_history (alarm_name, time, id);

CREATE INDEX alarm_history_time ON alarm_history (time, id);
