-- The app registry: apps, their secrets (digests only), certificates (public JWKs),
-- exact URI lists, entitlements, and tenants' authorization records.
CREATE TABLE apps (
    id                 TEXT PRIMARY KEY,
    client_id          TEXT NOT NULL UNIQUE,
    partner_id         TEXT NOT NULL REFERENCES partners(id),
    name               TEXT NOT NULL,
    template           TEXT NOT NULL,
    kind               TEXT NOT NULL,
    custom_tenant_id   TEXT NULL REFERENCES tenants(id) ON DELETE SET NULL,
    access             TEXT NOT NULL,
    client_type        TEXT NOT NULL,
    grant_types        TEXT NOT NULL,
    loopback_any_port  BOOLEAN NOT NULL,
    require_pkce       BOOLEAN NOT NULL,
    allow_plain_pkce   BOOLEAN NOT NULL,
    token_format       TEXT NOT NULL,
    access_token_ttl   INTEGER NULL,
    refresh_mode       TEXT NOT NULL,
    signing_alg        TEXT NOT NULL,
    technical_contact  TEXT NULL REFERENCES users(id) ON DELETE SET NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX apps_partner ON apps(partner_id);

CREATE TABLE app_secrets (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    digest        BLOB NOT NULL UNIQUE,
    hint          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NULL,
    revoked_at    INTEGER NULL,
    last_used_at  INTEGER NULL
);
CREATE INDEX app_secrets_app ON app_secrets(app_id);

CREATE TABLE app_certificates (
    id             TEXT PRIMARY KEY,
    app_id         TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kid            TEXT NOT NULL,
    kty            TEXT NOT NULL,
    jwk            TEXT NOT NULL,
    source_format  TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NULL,
    revoked_at     INTEGER NULL,
    UNIQUE (app_id, kid)
);

CREATE TABLE app_uris (
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    uri         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, kind, uri)
);

CREATE TABLE app_entitlements (
    app_id         TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    entitlement    TEXT NOT NULL,
    status         TEXT NOT NULL,
    justification  TEXT NULL,
    decided_by     TEXT NULL,
    decided_at     INTEGER NULL,
    PRIMARY KEY (app_id, entitlement)
);

CREATE TABLE authorization_records (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    status        TEXT NOT NULL,
    entitlements  TEXT NOT NULL,
    approved_by   TEXT NULL REFERENCES users(id) ON DELETE SET NULL,
    approved_at   INTEGER NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, tenant_id)
);
