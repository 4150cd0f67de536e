-- Operator access: each operator has a stable id, a status (active | disabled, through the
-- state-machine executor), an optional expiry, and where its token came from ('first': the
-- first-token variable or the generated first token, which a new variable value replaces).
-- The audit trail gains the operator's role, the client address, the route and its target.

ALTER TABLE operators ADD COLUMN operator_id TEXT;
ALTER TABLE operators ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE operators ADD COLUMN expires_at BIGINT;
ALTER TABLE operators ADD COLUMN source TEXT NOT NULL DEFAULT 'added';
ALTER TABLE operators ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE operators SET operator_id = 'op_' || CAST(id AS TEXT), updated_at = created_at;
UPDATE operators SET source = 'first' WHERE name = 'admin' AND role = 'admin';
CREATE UNIQUE INDEX operators_operator_id ON operators (operator_id);

CREATE TABLE operator_status_history (
    id          {{ID}},
    operator_id TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    event       TEXT NOT NULL,
    actor       TEXT NOT NULL,
    reason      TEXT,
    at          BIGINT NOT NULL
);
CREATE INDEX operator_status_history_operator ON operator_status_history (operator_id);

-- `target` held the outcome (the HTTP status) until now: it moves to `outcome`, and `target`
-- becomes what the call acted on (the ids in its path).
ALTER TABLE audit_log ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN client TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN route TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
UPDATE audit_log SET outcome = target, target = '';
