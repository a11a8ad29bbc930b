-- SuperID compatibility (issue 21).
-- Tickets: the opaque `7T:` credential a system user receives, stored as a digest. It slides
-- (each use moves `expires_at` to six hours ahead) up to `ends_at`, and ends with the
-- tenant's approval of the app.
CREATE TABLE system_user_tickets (
    digest      BLOB PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    revoked_at  INTEGER NULL
);
CREATE INDEX system_user_tickets_grant ON system_user_tickets(app_id, tenant_id);
CREATE INDEX system_user_tickets_expiry ON system_user_tickets(expires_at);

-- An identical signed system token sent again inside its window gets the first answer back
-- (SuperOffice's client library sends the same string twice): the app it was accepted for,
-- and that answer sealed under a key derived from the signed string itself.
ALTER TABLE system_user_replays ADD COLUMN app_id TEXT NULL;
ALTER TABLE system_user_replays ADD COLUMN sealed BLOB NULL;

-- SuperID's `associateid` is a number: a stable one per user, in order of creation.
ALTER TABLE users ADD COLUMN associate_id INTEGER NULL;
UPDATE users SET associate_id = (SELECT COUNT(*) FROM users u WHERE u.created_at < users.created_at
    OR (u.created_at = users.created_at AND u.id <= users.id));
CREATE UNIQUE INDEX users_associate_id ON users(associate_id);
