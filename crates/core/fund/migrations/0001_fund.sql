-- Fund products (资金产品): a member's top-ups, transfers and withdrawals. Each is an order
-- with its state machine, idempotent by the member's own request number; the money itself
-- moves only in the ledger, by the order's vouchers.
CREATE TABLE fund_orders (
    id             {{ID}},
    order_id       TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL,
    member_id      TEXT NOT NULL,
    request_no     TEXT NOT NULL,
    amount         BIGINT NOT NULL,
    currency       TEXT NOT NULL,
    status         TEXT NOT NULL,
    card_id        TEXT,
    payee_id       TEXT,
    channel        TEXT,
    attempt_id     TEXT,
    channel_txn_id TEXT,
    fail_code      TEXT,
    fail_message   TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX fund_orders_request ON fund_orders (member_id, kind, request_no);
CREATE INDEX fund_orders_status ON fund_orders (status, updated_at);

CREATE TABLE fund_order_history (
    id          {{ID}},
    order_id    TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX fund_order_history_order ON fund_order_history (order_id);
