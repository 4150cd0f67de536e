-- Messages (B4): which subscriber handled which outbox event, so that an event handed over
-- again after a crash is not applied twice.

CREATE TABLE message_receipts (
    subscriber TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    handled_at BIGINT NOT NULL,
    PRIMARY KEY (subscriber, event_id)
);
