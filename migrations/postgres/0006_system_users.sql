-- SuperID system users: the per (app, tenant) system token on the authorization record, and
-- the durable replay record of accepted signed system tokens (it works across instances).
ALTER TABLE authorization_records ADD COLUMN system_token TEXT NULL;
CREATE UNIQUE INDEX authorization_records_system_token ON authorization_records(system_token);

CREATE TABLE system_user_replays (
    digest      BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX system_user_replays_expiry ON system_user_replays(expires_at);

-- A pending sign-in is bound to the browser that started it (a cookie's digest), so a form
-- cannot be submitted from another browser (login CSRF).
ALTER TABLE authorization_requests ADD COLUMN browser BYTEA NULL;

-- Grants revoked after a replayed code or refresh token; tokens issued under one of these in
-- a race with the revocation are refused on the spot.
CREATE TABLE revoked_grants (
    grant_id    TEXT PRIMARY KEY,
    revoked_at  BIGINT NOT NULL
);
