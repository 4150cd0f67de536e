-- Agreements (协议支付, M1/M4): a merchant's standing permission to debit a member without the
-- member present, within an amount per period; signed with the member's SMS code.
CREATE TABLE agreements (
    id                {{ID}},
    agreement_id      TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    out_agreement_no  TEXT NOT NULL,
    member_id         TEXT NOT NULL,
    card_id           TEXT,
    max_amount        BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    period            TEXT NOT NULL,
    status            TEXT NOT NULL,
    signed_at         BIGINT,
    terminated_at     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX agreements_out_no ON agreements (merchant_id, out_agreement_no);
CREATE INDEX agreements_member ON agreements (member_id);

CREATE TABLE agreement_history (
    id           {{ID}},
    agreement_id TEXT NOT NULL,
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    event        TEXT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX agreement_history_agreement ON agreement_history (agreement_id);
