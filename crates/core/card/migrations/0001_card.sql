-- The card vault (卡中心). A card's number, expiry and holder are sealed (AES-256-GCM) under a
-- data key, and the data key is sealed under the master key (envelope encryption: rotating the
-- master key re-seals the data keys, not every card). The security code is never stored. The
-- fingerprint is an HMAC of the number under a vault secret, so that the same card can be found
-- without the number being derivable from it.
CREATE TABLE card_keys (
    key_id      TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    sealed      {{BLOB}} NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE cards (
    id            {{ID}},
    card_id       TEXT NOT NULL UNIQUE,
    member_id     TEXT NOT NULL,
    status        TEXT NOT NULL,
    data_key_id   TEXT NOT NULL,
    card_sealed   {{BLOB}} NOT NULL,
    fingerprint   TEXT NOT NULL,
    first6        TEXT NOT NULL,
    last4         TEXT NOT NULL,
    brand         TEXT NOT NULL,
    bank          TEXT NOT NULL,
    card_type     TEXT NOT NULL,
    pan_length    BIGINT NOT NULL,
    phone_masked  TEXT NOT NULL,
    channel       TEXT NOT NULL,
    agreement_no  TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX cards_member ON cards (member_id);
-- One bound card per number per member.
CREATE UNIQUE INDEX cards_bound_once ON cards (member_id, fingerprint) WHERE status = 'bound';

CREATE TABLE card_status_history (
    id          {{ID}},
    card_id     TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX card_status_history_card ON card_status_history (card_id);
