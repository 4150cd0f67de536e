-- The sandbox quick-pay bank's payouts: money paid to a card by its agreement (a member's
-- withdrawal), idempotent by the platform's attempt id.
CREATE TABLE sandbox_payouts (
    id            {{ID}},
    attempt_id    TEXT NOT NULL UNIQUE,
    agreement_no  TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    status        TEXT NOT NULL,
    txn_id        TEXT NOT NULL,
    fail_code     TEXT,
    created_at    BIGINT NOT NULL
);
