-- People (issue 18): links sent by email (invitations, email verification, password reset) and
-- whether a person's address is verified. A link is stored as the SHA-256 of its token, used
-- once (`used_at`), and dies at `expires_at`.
ALTER TABLE users ADD COLUMN email_verified_at INTEGER NULL;

CREATE TABLE email_links (
    digest      BLOB PRIMARY KEY,
    purpose     TEXT NOT NULL,
    email       TEXT NOT NULL,
    -- The person a verification or reset link is for; NULL for an invitation of a new address.
    user_id     TEXT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- Where an invitation lands the person: a tenant (as member or administrator), or a
    -- partner (as developer).
    tenant_id   TEXT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    partner_id  TEXT NULL REFERENCES partners(id) ON DELETE CASCADE,
    is_admin    BOOLEAN NOT NULL DEFAULT FALSE,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER NULL
);
CREATE INDEX email_links_expires ON email_links(expires_at);
CREATE INDEX email_links_email ON email_links(email, purpose, created_at);
