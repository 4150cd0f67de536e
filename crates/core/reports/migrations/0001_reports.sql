-- Reports: daily payment statistics per merchant, product, channel and currency (the first
-- outbox subscriber's table).

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
