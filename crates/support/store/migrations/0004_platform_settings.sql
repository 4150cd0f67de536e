-- Facts about the platform fixed when its database is first set up, such as its mode (sandbox
-- or production): every process that opens the database reads them from here, so that the
-- server and the command line can never disagree.

CREATE TABLE platform_settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL,
    set_at BIGINT NOT NULL
);
