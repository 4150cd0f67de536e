-- What paid a wallet payment (combination pay): its instruments as JSON, written with the
-- success that books it.
ALTER TABLE payments ADD COLUMN instruments TEXT;
