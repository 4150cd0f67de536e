-- Credit lines (信用支付, P9): what a member may owe the platform and what they owe now. `used`
-- moves only by conditional updates that keep 0 <= used <= limit, in the transaction of the
-- payment, refund or repayment that moves it; each move is logged for the member's bills.
CREATE TABLE credit_lines (
    id           {{ID}},
    member_id    TEXT NOT NULL UNIQUE,
    currency     TEXT NOT NULL,
    limit_amount BIGINT NOT NULL,
    used         BIGINT NOT NULL,
    updated_by   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE credit_entries (
    id          {{ID}},
    member_id   TEXT NOT NULL,
    ref         TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    amount      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX credit_entries_member ON credit_entries (member_id, created_at);
