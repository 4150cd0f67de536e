-- Support tables: business-ID sequences, the transactional outbox, jobs with leases.

CREATE TABLE id_sequences (
    day        BIGINT NOT NULL,          -- yyyyMMdd
    biz_type   BIGINT NOT NULL,
    next_value BIGINT NOT NULL,          -- first number not yet handed out
    PRIMARY KEY (day, biz_type)
);

CREATE TABLE outbox (
    id           {{ID}},
    event_id     TEXT NOT NULL UNIQUE,   -- 32-digit business id of the event
    topic        TEXT NOT NULL,          -- e.g. payment.succeeded
    aggregate_id TEXT NOT NULL,          -- the object the event is about
    shard_key    TEXT NOT NULL,          -- merchant or member id
    payload      TEXT NOT NULL,          -- JSON, fixed once written
    created_at   BIGINT NOT NULL
);
CREATE INDEX outbox_aggregate ON outbox (aggregate_id);

CREATE TABLE outbox_offsets (
    subscriber TEXT PRIMARY KEY,
    last_id    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id          {{ID}},
    kind        TEXT NOT NULL,
    job_key     TEXT NOT NULL,           -- idempotency key within the kind
    payload     TEXT NOT NULL,
    status      TEXT NOT NULL,           -- pending | running | done | failed
    run_at      BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (kind, job_key)
);
CREATE INDEX jobs_due ON jobs (kind, status, run_at);
