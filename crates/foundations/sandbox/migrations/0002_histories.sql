-- Every status change goes through the state-machine executor, which writes history rows of
-- one shape: (key, from_status, to_status, event, actor, reason, at).

ALTER TABLE sandbox_order_history ADD COLUMN actor TEXT NOT NULL DEFAULT 'sandbox';
ALTER TABLE sandbox_order_history ADD COLUMN reason TEXT;
CREATE INDEX sandbox_order_history_order ON sandbox_order_history (order_id);

CREATE TABLE sandbox_notification_history (
    id              {{ID}},
    notification_id BIGINT NOT NULL,
    from_status     TEXT,
    to_status       TEXT NOT NULL,
    event           TEXT NOT NULL,
    actor           TEXT NOT NULL,
    reason          TEXT,
    at              BIGINT NOT NULL
);
CREATE INDEX sandbox_notification_history_notification
    ON sandbox_notification_history (notification_id);
