-- A contract names the currencies it accepts, each with its fixed fee and limits (a JSON list;
-- contracts made before have NULL and accept their fee currency only). Keys and contracts get
-- status histories of the executor's shape.

ALTER TABLE merchant_contracts ADD COLUMN currency_terms TEXT;
ALTER TABLE merchant_contract_history ADD COLUMN currency_terms TEXT;

CREATE TABLE merchant_key_history (
    id          {{ID}},
    key_id      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX merchant_key_history_key ON merchant_key_history (key_id);

CREATE TABLE merchant_contract_status_history (
    id          {{ID}},
    contract_id TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX merchant_contract_status_history_contract
    ON merchant_contract_status_history (contract_id);
