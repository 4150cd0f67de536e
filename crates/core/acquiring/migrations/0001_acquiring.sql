-- Acquiring (S2) and the payment engine's channel attempts (S6/S7): payments, their attempts at
-- channels, refunds, state histories, and alerts for channel messages that were not applied.

CREATE TABLE payments (
    id                {{ID}},
    payment_id        TEXT NOT NULL UNIQUE,       -- 32-digit business id
    merchant_id       TEXT NOT NULL,              -- shard key
    out_trade_no      TEXT NOT NULL,
    request_hash      TEXT NOT NULL,              -- what the merchant asked, for idempotency
    product           TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    subject           TEXT NOT NULL,
    payer             TEXT NOT NULL,              -- JSON
    notify_url        TEXT,
    return_url        TEXT,
    metadata          TEXT NOT NULL,              -- JSON, echoed back
    fee               BIGINT NOT NULL,            -- snapshot of the contract's fee
    fee_rate_bps      BIGINT NOT NULL,
    contract_version  BIGINT NOT NULL,
    status            TEXT NOT NULL,              -- created | processing | succeeded | failed | closed | canceled
    channel           TEXT,
    attempt_id        TEXT,                       -- the current channel attempt
    channel_txn_id    TEXT,
    next_action       TEXT,                       -- JSON
    refunded_amount   BIGINT NOT NULL DEFAULT 0,
    refunding_amount  BIGINT NOT NULL DEFAULT 0,  -- reserved by refunds in flight
    failure_code      TEXT,
    failure_message   TEXT,
    accounting_day    BIGINT,                     -- yyyymmdd of the success voucher
    expire_at         BIGINT NOT NULL,
    paid_at           BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (merchant_id, out_trade_no)
);
CREATE INDEX payments_day ON payments (merchant_id, accounting_day);

CREATE TABLE payment_history (
    id          {{ID}},
    payment_id  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    source      TEXT NOT NULL,                    -- api | sync | notify | return | query | job
    at          BIGINT NOT NULL
);
CREATE INDEX payment_history_payment ON payment_history (payment_id);

CREATE TABLE channel_attempts (
    id             {{ID}},
    attempt_id     TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,                 -- pay | refund | cancel
    payment_id     TEXT NOT NULL,
    refund_id      TEXT,
    merchant_id    TEXT NOT NULL,
    channel        TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL,                 -- created | pending | unknown | succeeded | failed | canceled
    channel_txn_id TEXT,
    error_code     TEXT,
    error_message  TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX channel_attempts_payment ON channel_attempts (payment_id);

CREATE TABLE refunds (
    id                {{ID}},
    refund_id         TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    out_refund_no     TEXT NOT NULL,
    request_hash      TEXT NOT NULL,
    payment_id        TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    fee_refund        BIGINT NOT NULL,
    reason            TEXT,
    kind              TEXT NOT NULL,              -- merchant | auto (late success on an unpaid payment)
    status            TEXT NOT NULL,              -- processing | succeeded | failed
    attempt_id        TEXT NOT NULL,
    channel_refund_id TEXT,
    failure_code      TEXT,
    accounting_day    BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    UNIQUE (merchant_id, out_refund_no)
);
CREATE INDEX refunds_payment ON refunds (payment_id);
CREATE INDEX refunds_day ON refunds (merchant_id, accounting_day);

CREATE TABLE channel_alerts (
    id         {{ID}},
    channel    TEXT NOT NULL,
    kind       TEXT NOT NULL,                     -- bad_signature | amount_mismatch | unknown_attempt | malformed
    attempt_id TEXT,
    detail     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
