-- Requests risk challenged: kept as asked until the payer confirms them (`verify`), then paid
-- exactly so. One per member and request number.
CREATE TABLE cashier_challenges (
    id           {{ID}},
    member_id    TEXT NOT NULL,
    request_no   TEXT NOT NULL,
    payment_id   TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    instruments  TEXT NOT NULL,
    verified_at  BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX cashier_challenges_request ON cashier_challenges (member_id, request_no);
CREATE INDEX cashier_challenges_payment ON cashier_challenges (member_id, payment_id);
