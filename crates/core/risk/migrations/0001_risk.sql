-- Risk (风控): the rules operators edit, and every decision with the rules that fired. The
-- decisions also serve the velocity and new-device rules: they are the history of who paid
-- how often, from which card, device and address.
CREATE TABLE risk_rules (
    id             {{ID}},
    rule_id        TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    subject        TEXT,
    threshold      BIGINT,
    currency       TEXT,
    window_seconds BIGINT,
    max_count      BIGINT,
    list_values    TEXT,
    action         TEXT NOT NULL,
    enabled        BIGINT NOT NULL,
    updated_by     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE risk_decisions (
    id          {{ID}},
    reference   TEXT NOT NULL,
    member_id   TEXT NOT NULL,
    card_id     TEXT,
    device_id   TEXT,
    client_ip   TEXT,
    amount      BIGINT NOT NULL,
    currency    TEXT NOT NULL,
    action      TEXT NOT NULL,
    aml_review  BIGINT NOT NULL,
    fired       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX risk_decisions_member ON risk_decisions (member_id, created_at);
CREATE INDEX risk_decisions_card ON risk_decisions (card_id, created_at);
CREATE INDEX risk_decisions_device ON risk_decisions (device_id, created_at);
CREATE INDEX risk_decisions_ip ON risk_decisions (client_ip, created_at);
CREATE INDEX risk_decisions_reference ON risk_decisions (reference);
