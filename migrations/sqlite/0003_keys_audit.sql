-- Signing keys (public half always here; the private half in keys/ or encrypted here) and
-- the audit trail of security events.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL,
    public_jwk    TEXT NOT NULL,
    private_key   BLOB NULL,
    app_id        TEXT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL,
    activated_at  INTEGER NULL,
    retired_at    INTEGER NULL
);
-- At most one current and one next key per algorithm and owner: key promotion stays a
-- single conditional statement even when two instances rotate at once.
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys(alg, COALESCE(app_id, ''))
    WHERE state = 'current';
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys(alg, COALESCE(app_id, ''))
    WHERE state = 'next';

CREATE TABLE audit_events (
    id       TEXT PRIMARY KEY,
    at       INTEGER NOT NULL,
    actor    TEXT NOT NULL,
    action   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX audit_events_subject ON audit_events(subject, at);
