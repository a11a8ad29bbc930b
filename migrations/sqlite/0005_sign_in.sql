-- Browser sign-in: pending authorization requests (so any instance can continue one),
-- sessions, users' consents, authorization codes, refresh-token families, and the failed-login
-- counters that slow down guessing.
CREATE TABLE authorization_requests (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    params      TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX authorization_requests_expiry ON authorization_requests(expires_at);

CREATE TABLE sessions (
    digest      BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NULL REFERENCES tenants(id) ON DELETE SET NULL,
    auth_time   INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, app_id)
);

CREATE TABLE authorization_codes (
    digest          BLOB PRIMARY KEY,
    grant_id        TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       TEXT NULL,
    redirect_uri    TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT NULL,
    code_challenge  TEXT NULL,
    challenge_method TEXT NULL,
    auth_time       INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER NULL
);

-- What was issued from one grant (a code and everything after it), so that a replayed code
-- or a replayed refresh token can revoke all of it.
CREATE TABLE grant_tokens (
    grant_id    TEXT NOT NULL,
    jti         TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (grant_id, jti)
);

CREATE TABLE refresh_tokens (
    digest          BLOB PRIMARY KEY,
    grant_id        TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id       TEXT NULL,
    scope           TEXT NOT NULL,
    nonce           TEXT NULL,
    auth_time       INTEGER NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NULL,
    used_at         INTEGER NULL,
    successor       TEXT NULL,
    revoked_at      INTEGER NULL
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE login_failures (
    key           TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    window_start  INTEGER NOT NULL
);
