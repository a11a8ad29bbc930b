-- Dynamic client registration (RFC 7591 / 7592): initial access tokens, and each registered
-- app's registration access token and the metadata it registered.
CREATE TABLE registration_tokens (
    digest      BYTEA PRIMARY KEY,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE app_registrations (
    app_id          TEXT PRIMARY KEY REFERENCES apps(id) ON DELETE CASCADE,
    access_digest   BYTEA NOT NULL UNIQUE,
    metadata        TEXT NOT NULL
);

-- The partner that owns dynamically registered apps.
INSERT INTO partners (id, name, created_at) VALUES ('dynamic-registration', 'Dynamic client registrations', 0);
