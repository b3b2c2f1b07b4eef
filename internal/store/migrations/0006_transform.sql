-- Batch transform. A transform job is a row of jobs (kind 'transform'); this table holds its
-- input files, listed when the job first runs, and how far each has got: a job run again after
-- an interruption skips the files whose output is already written, and clients follow the
-- progress (records and bytes) while it runs.
CREATE TABLE transform_files (
    id          {{ID}},
    job_arn     TEXT NOT NULL,
    -- seq is the file's position in the job's input listing; files go to workers by seq.
    seq         BIGINT NOT NULL,
    input_uri   TEXT NOT NULL,
    output_uri  TEXT NOT NULL,
    -- size is the object's size as stored (compressed for Gzip input).
    size        BIGINT NOT NULL,
    -- status is pending, running, done or failed.
    status      TEXT NOT NULL,
    records     BIGINT NOT NULL DEFAULT 0,
    -- bytes_read counts the object's bytes read so far, as stored.
    bytes_read  BIGINT NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT '',
    started_at  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL
);

CREATE UNIQUE INDEX transform_files_job_seq ON transform_files (job_arn, seq);
