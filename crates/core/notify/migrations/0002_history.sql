-- The state-machine executor writes history rows of one shape: (key, from_status, to_status,
-- event, actor, reason, at).

ALTER TABLE notification_status_history ADD COLUMN actor TEXT NOT NULL DEFAULT 'notifier';
ALTER TABLE notification_status_history ADD COLUMN reason TEXT;
