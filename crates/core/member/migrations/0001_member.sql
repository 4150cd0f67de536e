-- Members: the payers. The login password is an argon2id PHC string; the pay password an
-- HMAC-SHA256 under the member pepper (a secret sealed under the master key, member_secrets),
-- so that its million values cannot be tried offline from a copy of the database. The real
-- name and identity number are sealed, never stored in clear.
CREATE TABLE members (
    id                      {{ID}},
    member_id               TEXT NOT NULL UNIQUE,
    phone                   TEXT NOT NULL UNIQUE,
    status                  TEXT NOT NULL,
    password_hash           TEXT NOT NULL,
    login_failures          BIGINT NOT NULL DEFAULT 0,
    login_locked_until      BIGINT NOT NULL DEFAULT 0,
    pay_password_mac        TEXT,
    pay_password_failures   BIGINT NOT NULL DEFAULT 0,
    pay_password_locked_until BIGINT NOT NULL DEFAULT 0,
    password_free_limit     BIGINT NOT NULL DEFAULT 0,
    password_free_currency  TEXT NOT NULL DEFAULT 'CNY',
    identity_sealed         {{BLOB}},
    real_name_verified_at   BIGINT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

CREATE TABLE member_status_history (
    id          {{ID}},
    member_id   TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX member_status_history_member ON member_status_history (member_id);

-- Bearer tokens of logged-in members, by their SHA-256 (the token itself is never stored).
CREATE TABLE member_tokens (
    id          {{ID}},
    token_hash  TEXT NOT NULL UNIQUE,
    member_id   TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX member_tokens_member ON member_tokens (member_id);

-- One-time SMS codes, by their HMAC (the code travels only to the phone).
CREATE TABLE member_sms_codes (
    id          {{ID}},
    phone       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    code_mac    TEXT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX member_sms_codes_phone ON member_sms_codes (phone, created_at);

-- The member platform's secrets (the pepper), sealed under the master key.
CREATE TABLE member_secrets (
    name        TEXT PRIMARY KEY,
    sealed      {{BLOB}} NOT NULL,
    created_at  BIGINT NOT NULL
);
