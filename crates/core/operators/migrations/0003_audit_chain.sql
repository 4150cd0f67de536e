-- The audit trail is hash-chained like the books: each row carries the hash of the row before
-- it and its own, over its fields; `audit_head` holds the newest hash, so that a row removed
-- from the end is seen too. Rows written before this migration keep empty hashes ("legacy")
-- and must all precede the chain. `paycore audit verify` checks it.

ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN hash TEXT NOT NULL DEFAULT '';

CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    entries BIGINT NOT NULL
);
INSERT INTO audit_head (id, hash, entries) VALUES (1, '', 0);
