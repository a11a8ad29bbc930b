-- Clients' own key ids, keys fetched from a registered jwks_uri, and the refresh-token grace
-- period as an explicit per-app opt-in (strict one-time use is the default).
ALTER TABLE app_certificates ADD COLUMN client_kid TEXT NULL;
-- A client's kid names one usable key of the app; a revoked key frees its kid.
CREATE UNIQUE INDEX app_certificates_client_kid ON app_certificates(app_id, client_kid)
    WHERE client_kid IS NOT NULL AND revoked_at IS NULL;
ALTER TABLE apps ADD COLUMN jwks_uri TEXT NULL;
ALTER TABLE apps ADD COLUMN refresh_grace_secs INTEGER NULL;
-- CORS preflights look origins up without knowing the client.
CREATE INDEX app_uris_by_uri ON app_uris(kind, uri);
-- When the person signed in within a pending sign-in: that login is fresh for its prompt=login
-- and max_age, however many seconds the next page takes.
ALTER TABLE authorization_requests ADD COLUMN signed_in_at INTEGER NULL;
-- The one client authentication method a dynamically registered client asked for (RFC 7591 §2
-- token_endpoint_auth_method); NULL for apps made in the portal or CLI, which may use any of
-- client_secret_basic, client_secret_post and private_key_jwt.
ALTER TABLE apps ADD COLUMN token_auth_method TEXT NULL;
-- Resource servers (APIs) an access token may name as its audience (RFC 8707), each with an
-- owner: a partner's own API, or a platform API (no owner). An app may ask for an audience its
-- partner owns, or one granted to it.
CREATE TABLE resource_servers (
    identifier        TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    owner_partner_id  TEXT NULL REFERENCES partners(id) ON DELETE CASCADE,
    created_at        INTEGER NOT NULL
);
CREATE TABLE resource_grants (
    identifier  TEXT NOT NULL REFERENCES resource_servers(identifier) ON DELETE CASCADE,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    granted_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (identifier, app_id)
);
CREATE INDEX resource_grants_app ON resource_grants(app_id);
