-- Federation (issue 20): an email domain a tenant administrator names for their provider waits
-- here until DNS proves the tenant owns it (a TXT record with the token); only then does it move
-- to federated_domains, where home realm discovery finds it. Claims do not hold the domain: any
-- number of tenants may claim one, the first to prove it gets it.
CREATE TABLE domain_claims (
    idp_id      TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
    domain      TEXT NOT NULL,
    token       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (idp_id, domain)
);

