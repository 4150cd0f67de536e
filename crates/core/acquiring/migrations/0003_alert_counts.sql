-- A burst of refused channel messages (forged or malformed) is one alert with a count, not a
-- row each: `count` messages of that kind arrived from `at` to `last_at`.

ALTER TABLE channel_alerts ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
ALTER TABLE channel_alerts ADD COLUMN last_at BIGINT;
