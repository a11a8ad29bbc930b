-- Partners, tenants, users and who belongs where.
CREATE TABLE partners (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE tenants (
    id               TEXT PRIMARY KEY,
    ctx              TEXT NOT NULL UNIQUE,
    serial           INTEGER NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'running',
    owner_partner_id TEXT NULL REFERENCES partners(id) ON DELETE SET NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    platform_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     INTEGER NOT NULL
);

CREATE TABLE memberships (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    is_admin    BOOLEAN NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE partner_members (
    partner_id  TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (partner_id, user_id)
);
CREATE INDEX partner_members_user ON partner_members(user_id);
