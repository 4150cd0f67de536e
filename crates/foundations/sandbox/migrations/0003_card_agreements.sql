-- The sandbox quick-pay bank's card agreements (快捷协议): a card is signed with the code the
-- bank texts to the card's phone, and paid by the agreement number afterwards. The bank keeps
-- no card number: only its MAC under the channel's key and the last four digits.
CREATE TABLE sandbox_card_agreements (
    id            {{ID}},
    sign_id       TEXT NOT NULL UNIQUE,
    pan_mac       TEXT NOT NULL,
    last4         TEXT NOT NULL,
    phone         TEXT NOT NULL,
    code_mac      TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    status        TEXT NOT NULL,
    agreement_no  TEXT UNIQUE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
