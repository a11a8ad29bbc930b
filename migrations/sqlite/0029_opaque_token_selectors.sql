-- Opaque access tokens carry their row's jti, so a token's row is found by its primary key and
-- its digest is only compared, never searched for: the digest's index goes (each token written
-- dirtied one random page of it; issue 15). SQLite cannot drop a column's UNIQUE, so the table
-- is rebuilt, WITHOUT ROWID: the rows themselves are then ordered by their time-ordered jti,
-- one B-tree where a rowid table kept two.
--
-- Tokens issued before carry no jti; their digests stay findable in legacy_token_digests until
-- they have expired (pruning deletes them with the tokens).
CREATE TABLE legacy_token_digests (
    digest      BLOB PRIMARY KEY,
    jti         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO legacy_token_digests (digest, jti, expires_at) SELECT digest, jti, expires_at FROM access_tokens;
CREATE INDEX legacy_token_digests_expiry ON legacy_token_digests(expires_at);

CREATE TABLE access_tokens_by_jti (
    jti         TEXT PRIMARY KEY,
    digest      BLOB NOT NULL,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    user_id     TEXT NULL,
    tenant_id   TEXT NULL,
    scope       TEXT NOT NULL,
    audience    TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NULL,
    jkt         TEXT NULL,
    act         TEXT NULL
) WITHOUT ROWID;
INSERT INTO access_tokens_by_jti (jti, digest, app_id, subject, user_id, tenant_id, scope, audience, issued_at,
    expires_at, revoked_at, jkt, act)
SELECT jti, digest, app_id, subject, user_id, tenant_id, scope, audience, issued_at, expires_at, revoked_at, jkt, act
FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_by_jti RENAME TO access_tokens;
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);
