-- Federation (issue 20): an email domain a tenant administrator names for their provider waits
-- here until DNS proves the tenant owns it (a TXT record with the token); only then does it move
-- to federated_domains, where home realm discovery finds it. Claims do not hold the domain: any
-- number of tenants may claim one, the first to prove it gets it.
CREATE TABLE domain_claims (
    idp_id      TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
    domain      TEXT NOT NULL,
    token       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (idp_id, domain)
);


-- A sign-in at an upstream that started on the Developer Portal's login page, not at an app:
-- where the portal goes on to afterwards. Its request_id is then the digest of the browser's
-- binding cookie instead of a pending authorization request.
ALTER TABLE upstream_logins ADD COLUMN portal_next TEXT NULL;
