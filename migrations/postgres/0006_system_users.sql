-- SuperID system users: the per (app, tenant) system token on the authorization record, and
-- the durable replay record of accepted signed system tokens (it works across instances).
ALTER TABLE authorization_records ADD COLUMN system_token TEXT NULL;
CREATE UNIQUE INDEX authorization_records_system_token ON authorization_records(system_token);

CREATE TABLE system_user_replays (
    digest      BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX system_user_replays_expiry ON system_user_replays(expires_at);
