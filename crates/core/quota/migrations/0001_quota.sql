-- The quota center (限额中心): limits per member, merchant, card or product, for a single
-- payment or per day, month or year. A window's use is one row, raised by one conditional
-- update that fails when it would pass the limit, in the transaction of the money movement
-- it limits; each consumption is recorded so that a refund or failure releases exactly it.
CREATE TABLE quota_rules (
    id          {{ID}},
    rule_id     TEXT NOT NULL UNIQUE,
    scope       TEXT NOT NULL,
    subject     TEXT NOT NULL,
    period      TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    updated_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX quota_rules_key ON quota_rules (scope, subject, period, currency);

CREATE TABLE quota_usage (
    id          {{ID}},
    rule_id     TEXT NOT NULL,
    window_key  TEXT NOT NULL,
    used        BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX quota_usage_window ON quota_usage (rule_id, window_key);

CREATE TABLE quota_consumptions (
    id          {{ID}},
    ref         TEXT NOT NULL,
    rule_id     TEXT NOT NULL,
    window_key  TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    released_at BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX quota_consumptions_ref ON quota_consumptions (ref);
