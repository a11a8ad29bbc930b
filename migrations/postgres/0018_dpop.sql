-- DPoP (RFC 9449): the thumbprint of the key a token is bound to (cnf.jkt), for opaque access
-- tokens and for refresh tokens of public clients; and apps that must use DPoP (RFC 9449 §5.2
-- dpop_bound_access_tokens).
ALTER TABLE access_tokens ADD COLUMN jkt TEXT NULL;
ALTER TABLE refresh_tokens ADD COLUMN jkt TEXT NULL;
ALTER TABLE apps ADD COLUMN require_dpop BOOLEAN NOT NULL DEFAULT FALSE;
