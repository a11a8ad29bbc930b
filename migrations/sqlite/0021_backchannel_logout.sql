-- OpenID Connect Back-Channel Logout 1.0 and RFC 9449 §10 (dpop_jkt):
-- the session an authorization code and its refresh tokens came from (`sid`, for ID tokens and
-- logout tokens) and the DPoP key the code is bound to; which apps each session signed in to;
-- and the outbox of deliveries to apps, written in the transaction that ends the session and
-- leased by one instance at a time until delivered or given up.
ALTER TABLE authorization_codes ADD COLUMN sid TEXT NULL;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT NULL;
ALTER TABLE refresh_tokens ADD COLUMN sid TEXT NULL;

CREATE TABLE session_apps (
    sid         TEXT NOT NULL,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    -- No reference to users: a deleted person's apps must still be told.
    user_id     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (sid, app_id)
);
CREATE INDEX session_apps_user ON session_apps(user_id);
CREATE INDEX session_apps_expiry ON session_apps(expires_at);

CREATE TABLE outbox (
    -- One row per event and app; the id is also the logout token's jti, the same on every retry.
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    app_id          TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    sid             TEXT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until    INTEGER NULL,
    delivered_at    INTEGER NULL,
    abandoned_at    INTEGER NULL,
    last_error      TEXT NULL
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX outbox_created ON outbox(created_at);
