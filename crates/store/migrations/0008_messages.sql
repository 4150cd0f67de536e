-- Messages (B4): which subscriber handled which outbox event (so that an event delivered
-- again after a crash is not applied twice), and the first subscriber's table: daily payment
-- statistics per merchant, product and channel.

CREATE TABLE message_receipts (
    subscriber TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);

CREATE TABLE payment_stats_daily (
    day               TEXT NOT NULL,             -- YYYY-MM-DD (UTC) of the event
    merchant_id       TEXT NOT NULL,
    product           TEXT NOT NULL,
    channel           TEXT NOT NULL,
    currency          TEXT NOT NULL,
    succeeded_count   BIGINT NOT NULL DEFAULT 0,
    succeeded_amount  BIGINT NOT NULL DEFAULT 0,
    fee_amount        BIGINT NOT NULL DEFAULT 0,
    failed_count      BIGINT NOT NULL DEFAULT 0,
    refunded_count    BIGINT NOT NULL DEFAULT 0,
    refunded_amount   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, merchant_id, product, channel, currency)
);
