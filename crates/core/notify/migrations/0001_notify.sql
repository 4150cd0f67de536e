-- Merchant notifications (B3): one row per event, its body rendered once, and a log of every
-- delivery attempt. Shard key: merchant_id.

CREATE TABLE notifications (
    id              {{ID}},
    event_id        TEXT NOT NULL UNIQUE,  -- 32-digit business id of the event
    event_type      TEXT NOT NULL,         -- e.g. payment.succeeded
    merchant_id     TEXT NOT NULL,         -- shard key
    object_id       TEXT NOT NULL,         -- the payment or refund
    notify_url      TEXT NOT NULL,
    body            TEXT NOT NULL,         -- fixed once written: every attempt sends exactly this
    status          TEXT NOT NULL,         -- pending | delivered | failed
    attempts        BIGINT NOT NULL DEFAULT 0,  -- attempts ever made (delivery log numbering)
    retry_index     BIGINT NOT NULL DEFAULT 0,  -- failed attempts since enqueue or last resend
    next_attempt_at BIGINT,                -- due time while pending
    lease_owner     TEXT,                  -- worker delivering it now
    lease_until     BIGINT,
    delivered_at    BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
CREATE INDEX notifications_object ON notifications (merchant_id, object_id);

CREATE TABLE notification_deliveries (
    id          {{ID}},
    event_id    TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    at          BIGINT NOT NULL,
    status_code BIGINT,                    -- HTTP status, when an answer came
    error       TEXT,                      -- why it was not a delivery
    latency_ms  BIGINT NOT NULL,
    response    TEXT,                      -- first 256 bytes of the answer
    worker      TEXT NOT NULL,
    UNIQUE (event_id, attempt)
);

CREATE TABLE notification_status_history (
    id          {{ID}},
    event_id    TEXT NOT NULL,
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,             -- deliver | give_up | resend
    at          BIGINT NOT NULL
);
CREATE INDEX notification_status_history_event ON notification_status_history (event_id);
