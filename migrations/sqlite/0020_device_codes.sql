-- The device authorization grant (RFC 8628): a device's pending sign-in, found by its
-- device_code (polling) or its user_code (the person typing it on /device), and the code of
-- the authorization it ended with. Any instance may serve any step.
CREATE TABLE device_codes (
    id             TEXT PRIMARY KEY,
    -- SHA-256 of the device_code: the database never holds a usable one.
    device_digest  BLOB NOT NULL UNIQUE,
    -- Eight letters without vowels, stored without the dash.
    user_code      TEXT NOT NULL UNIQUE,
    app_id         TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    -- pending, approved (code_digest names the authorization code), denied.
    status         TEXT NOT NULL,
    code_digest    BLOB NULL,
    -- Seconds between polls; slow_down adds 5 (§3.5).
    poll_interval  INTEGER NOT NULL,
    last_polled_at INTEGER NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
