-- The cashier's plans (combination pay, P11): how one payment attempt is paid, by which
-- instruments, each a part. At most one plan per attempt is live (`live_attempt` is set while
-- the plan may still pay, and cleared when it failed), so two payers' requests cannot both pay
-- one payment. A part's `refunded` only grows, by a conditional update that keeps it within the
-- part's amount.
CREATE TABLE cashier_plans (
    id             {{ID}},
    plan_id        TEXT NOT NULL UNIQUE,
    payment_id     TEXT NOT NULL,
    attempt_id     TEXT NOT NULL,
    live_attempt   TEXT UNIQUE,
    merchant_id    TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    request_no     TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL,
    card_attempt   TEXT,
    card_txn_id    TEXT,
    fail_code      TEXT,
    fail_message   TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX cashier_plans_request ON cashier_plans (member_id, request_no);
CREATE INDEX cashier_plans_attempt ON cashier_plans (attempt_id);

CREATE TABLE cashier_plan_history (
    id          {{ID}},
    plan_id     TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX cashier_plan_history_plan ON cashier_plan_history (plan_id);

CREATE TABLE cashier_parts (
    id          {{ID}},
    plan_id     TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    refunded    BIGINT NOT NULL,
    coupon_id   TEXT,
    card_id     TEXT,
    coins       BIGINT
);
CREATE UNIQUE INDEX cashier_parts_seq ON cashier_parts (plan_id, seq);

-- A refund (or the reversal of a cancel) at the wallet channel: how much each part gives back.
CREATE TABLE cashier_refunds (
    id                {{ID}},
    refund_attempt_id TEXT NOT NULL UNIQUE,
    plan_id           TEXT NOT NULL,
    amount            BIGINT NOT NULL,
    allocation        TEXT NOT NULL,
    status            TEXT NOT NULL,
    card_refund_id    TEXT,
    fail_code         TEXT,
    fail_message      TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

CREATE TABLE cashier_refund_history (
    id                {{ID}},
    refund_attempt_id TEXT NOT NULL,
    from_status       TEXT,
    to_status         TEXT NOT NULL,
    event             TEXT NOT NULL,
    actor             TEXT NOT NULL,
    reason            TEXT,
    at                BIGINT NOT NULL
);
CREATE INDEX cashier_refund_history_refund ON cashier_refund_history (refund_attempt_id);
