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
