-- Every status change of a job (claimed, taken over after a lost lease, done, failed, retried),
-- written by the state-machine executor.

CREATE TABLE job_history (
    id          {{ID}},
    job_id      BIGINT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX job_history_job ON job_history (job_id);
