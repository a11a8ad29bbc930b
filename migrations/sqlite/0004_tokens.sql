-- Server-to-server tokens: opaque access tokens (digests only), revoked JWT ids remembered
-- until they expire, the replay store for client-assertion and JWT-bearer `jti`s, and the JWT
-- credentials users create for their apps.
CREATE TABLE access_tokens (
    jti         TEXT PRIMARY KEY,
    digest      BLOB NOT NULL UNIQUE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    subject     TEXT NOT NULL,
    user_id     TEXT NULL,
    tenant_id   TEXT NULL,
    scope       TEXT NOT NULL,
    audience    TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NULL
);
CREATE INDEX access_tokens_expiry ON access_tokens(expires_at);

CREATE TABLE revoked_jwts (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);

CREATE TABLE used_jtis (
    issuer      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX used_jtis_expiry ON used_jtis(expires_at);

CREATE TABLE jwt_credentials (
    id          TEXT PRIMARY KEY,
    digest      BLOB NOT NULL UNIQUE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    app_ids     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NULL,
    revoked_at  INTEGER NULL
);
CREATE INDEX jwt_credentials_user ON jwt_credentials(user_id);

-- Apps may have tokens signed with a key of their own (published in JWKS beside ours).
ALTER TABLE apps ADD COLUMN dedicated_signing_key BOOLEAN NOT NULL DEFAULT FALSE;
-- Bumped by every change to an app or its lists, so instances can cache an app and know
-- when their copy is stale.
ALTER TABLE apps ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
