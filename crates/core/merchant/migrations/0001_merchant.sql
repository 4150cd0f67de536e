-- Merchant platform (S9) and product center (S10): merchants, their keys, their contracts.

CREATE TABLE merchants (
    id                  {{ID}},
    merchant_id         TEXT NOT NULL UNIQUE,     -- 32-digit business id
    name                TEXT NOT NULL,
    status              TEXT NOT NULL,            -- onboarding | active | frozen
    legal_name          TEXT,
    registration_number TEXT,
    country             TEXT,
    address             TEXT,
    contact_email       TEXT,
    contact_phone       TEXT,
    website             TEXT,
    mcc                 TEXT,                     -- merchant category code
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE TABLE merchant_status_history (
    id          {{ID}},
    merchant_id TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX merchant_status_history_merchant ON merchant_status_history (merchant_id);

CREATE TABLE merchant_keys (
    id             {{ID}},
    key_id         TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL REFERENCES merchants (merchant_id),
    algorithm      TEXT NOT NULL,                 -- RSA2 | ED25519 | HMAC-SHA256
    public_key_pem TEXT,                          -- RSA2 / ED25519
    fingerprint    TEXT NOT NULL,                 -- sha256 of the key material, hex
    secret_sealed  {{BLOB}},                      -- HMAC secret, AES-256-GCM under the master key
    status         TEXT NOT NULL,                 -- active | revoked
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
    UNIQUE (merchant_id, fingerprint)
);
CREATE INDEX merchant_keys_merchant ON merchant_keys (merchant_id);

CREATE TABLE merchant_contracts (
    id           {{ID}},
    contract_id  TEXT NOT NULL UNIQUE,
    merchant_id  TEXT NOT NULL REFERENCES merchants (merchant_id),
    product      TEXT NOT NULL,
    fee_rate_bps BIGINT NOT NULL,
    fixed_fee    BIGINT NOT NULL,                 -- minor units of fee_currency
    fee_currency TEXT NOT NULL,
    min_amount   BIGINT,
    max_amount   BIGINT,
    status       TEXT NOT NULL,                   -- enabled | disabled
    version      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (merchant_id, product)
);

CREATE TABLE merchant_contract_history (
    id           {{ID}},
    contract_id  TEXT NOT NULL,
    version      BIGINT NOT NULL,
    fee_rate_bps BIGINT NOT NULL,
    fixed_fee    BIGINT NOT NULL,
    fee_currency TEXT NOT NULL,
    min_amount   BIGINT,
    max_amount   BIGINT,
    status       TEXT NOT NULL,
    at           BIGINT NOT NULL,
    UNIQUE (contract_id, version)
);
