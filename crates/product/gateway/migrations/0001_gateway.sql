-- Open gateway (S1): platform signing keys and replay protection.

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
