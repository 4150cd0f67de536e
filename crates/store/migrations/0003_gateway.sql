-- Open gateway (S1) and operators: platform signing keys, replay protection, operator tokens,
-- idempotent operator requests, the audit trail.

CREATE TABLE platform_keys (
    id             {{ID}},
    key_id         TEXT NOT NULL UNIQUE,
    algorithm      TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    private_sealed {{BLOB}} NOT NULL,             -- PKCS#8, AES-256-GCM under the master key
    status         TEXT NOT NULL,                 -- active | retired
    created_at     BIGINT NOT NULL
);

CREATE TABLE api_nonces (
    merchant_id TEXT NOT NULL,
    nonce       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,                  -- unix seconds; purged after
    PRIMARY KEY (merchant_id, nonce)
);
CREATE INDEX api_nonces_expiry ON api_nonces (expires_at);

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
