-- Every status change goes through the state-machine executor, which writes history rows of
-- one shape: (key, from_status, to_status, event, actor, reason, at). Payments' history calls
-- its actor by that name; attempts and refunds get histories of their own.
--
-- Refunds name the payment attempt whose charge they give back (automatic refunds of a late
-- charge give back another attempt than the payment's), the accounting day of that late charge
-- (for the merchant's bill), and the ledger hold on the merchant's pending settlement that pays
-- them (a merchant's refund or cancel); a cancel is a refund of kind 'cancel'.

ALTER TABLE payment_history RENAME COLUMN source TO actor;
ALTER TABLE payment_history ADD COLUMN reason TEXT;

CREATE TABLE channel_attempt_history (
    id          {{ID}},
    attempt_id  TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX channel_attempt_history_attempt ON channel_attempt_history (attempt_id);

CREATE TABLE refund_history (
    id          {{ID}},
    refund_id   TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX refund_history_refund ON refund_history (refund_id);

ALTER TABLE refunds ADD COLUMN payment_attempt_id TEXT;
ALTER TABLE refunds ADD COLUMN charge_day BIGINT;
ALTER TABLE refunds ADD COLUMN hold_no TEXT;
UPDATE refunds SET payment_attempt_id = substr(out_refund_no, 6) WHERE kind = 'auto';
UPDATE refunds SET payment_attempt_id =
    (SELECT p.attempt_id FROM payments p WHERE p.payment_id = refunds.payment_id)
    WHERE kind <> 'auto';
CREATE INDEX refunds_payment_attempt ON refunds (payment_attempt_id);
