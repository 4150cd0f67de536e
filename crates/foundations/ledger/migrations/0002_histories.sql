-- Every status change goes through the state-machine executor, which writes history rows of
-- one shape: (key, from_status, to_status, event, actor, reason, at). Accounts' history gains
-- the actor and reason; holds and day-ends get a history of their own.

ALTER TABLE ledger_account_history ADD COLUMN actor TEXT NOT NULL DEFAULT 'ledger';
ALTER TABLE ledger_account_history ADD COLUMN reason TEXT;
CREATE INDEX ledger_account_history_account ON ledger_account_history (account_id);

CREATE TABLE ledger_hold_history (
    id          {{ID}},
    hold_no     TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX ledger_hold_history_hold ON ledger_hold_history (hold_no);

CREATE TABLE ledger_day_end_history (
    id          {{ID}},
    day         BIGINT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX ledger_day_end_history_day ON ledger_day_end_history (day);
