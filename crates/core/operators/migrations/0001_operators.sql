-- Operators: bearer tokens with roles, idempotent operator requests, the audit trail.

CREATE TABLE operators (
    id         {{ID}},
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,              -- sha256 hex of the bearer token
    role       TEXT NOT NULL,                     -- admin | operator | viewer
    created_at BIGINT NOT NULL
);

CREATE TABLE operator_requests (
    idempotency_key TEXT PRIMARY KEY,
    operation       TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status_code     BIGINT NOT NULL,
    response        TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id        {{ID}},
    operator  TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL,
    at        BIGINT NOT NULL
);
