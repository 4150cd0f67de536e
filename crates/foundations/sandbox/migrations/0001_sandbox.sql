-- The sandbox channels' own books. These tables belong to the simulated banks and wallets,
-- not to the platform: the platform learns about them only through the channels' HTTP APIs
-- and settlement files.

-- Sandbox: each channel's keys (a sandbox, so kept plainly; base64).
CREATE TABLE sandbox_keys (
    id             {{ID}},
    channel        TEXT NOT NULL UNIQUE,
    shared_secret  TEXT NOT NULL,             -- HMAC key shared with the platform
    signing_pkcs8  TEXT,                      -- Ed25519 private key of the channel (alipay-like)
    created_at     BIGINT NOT NULL
);

-- Sandbox: misbehaviour settings, JSON.
CREATE TABLE sandbox_behaviour (
    id         {{ID}},
    channel    TEXT NOT NULL UNIQUE,
    settings   TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Sandbox: orders by our attempt id.
CREATE TABLE sandbox_orders (
    id             {{ID}},
    channel        TEXT NOT NULL,
    attempt_id     TEXT NOT NULL,
    channel_txn_id TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    payer_phone    TEXT,
    status         TEXT NOT NULL,             -- pending | paid | declined | closed | canceled
    token          TEXT NOT NULL UNIQUE,      -- net-bank page token / wallet QR code
    return_url     TEXT,
    notify_url     TEXT,
    refunded       BIGINT NOT NULL,
    fail_code      TEXT,
    created_at     BIGINT NOT NULL,
    paid_at        BIGINT,
    expire_at      BIGINT,                    -- unix millis; the payer cannot pay after it
    updated_at     BIGINT NOT NULL,
    UNIQUE (channel, attempt_id)
);
CREATE INDEX sandbox_orders_phone ON sandbox_orders (channel, payer_phone);

CREATE TABLE sandbox_order_history (
    id          {{ID}},
    order_id    BIGINT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    at          BIGINT NOT NULL
);

CREATE TABLE sandbox_refunds (
    id                {{ID}},
    channel           TEXT NOT NULL,
    refund_id         TEXT NOT NULL,          -- our refund attempt id
    attempt_id        TEXT NOT NULL,
    channel_refund_id TEXT NOT NULL UNIQUE,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    status            TEXT NOT NULL,          -- succeeded
    created_at        BIGINT NOT NULL,
    UNIQUE (channel, refund_id)
);

-- Sandbox: the channel's books, one line per money movement (settlement files come from here).
CREATE TABLE sandbox_charges (
    id             {{ID}},
    channel        TEXT NOT NULL,
    kind           TEXT NOT NULL,             -- pay | refund | cancel
    ref_id         TEXT NOT NULL,             -- attempt id (pay, cancel) or refund id
    channel_txn_id TEXT NOT NULL,
    attempt_id     TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    fee            BIGINT NOT NULL,
    day            BIGINT NOT NULL,           -- yyyyMMdd (UTC)
    at             BIGINT NOT NULL,           -- unix millis
    UNIQUE (channel, kind, ref_id)
);
CREATE INDEX sandbox_charges_day ON sandbox_charges (channel, day);

-- Sandbox: outgoing notifications, retried until the platform answers 2xx.
CREATE TABLE sandbox_notifications (
    id           {{ID}},
    channel      TEXT NOT NULL,
    notify_id    TEXT NOT NULL,               -- the same for duplicates
    url          TEXT NOT NULL,
    content_type TEXT NOT NULL,
    headers      TEXT NOT NULL,               -- JSON [[name, value]]
    body         TEXT NOT NULL,
    status       TEXT NOT NULL,               -- pending | delivered | failed
    attempts     BIGINT NOT NULL,
    next_at      BIGINT NOT NULL,             -- unix millis
    lease_until  BIGINT,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX sandbox_notifications_due ON sandbox_notifications (status, next_at);

-- Sandbox: SMS messages "sent" to phones (the SMS gateway writes here).
CREATE TABLE sandbox_sms (
    id         {{ID}},
    phone      TEXT NOT NULL,
    message    TEXT NOT NULL,
    code       TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX sandbox_sms_phone ON sandbox_sms (phone);
