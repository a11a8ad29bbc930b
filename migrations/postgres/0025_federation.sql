-- Federation (issue 20): a tenant's upstream OpenID Providers, the email domains each serves,
-- and the upstream sign-ins in flight.

-- We authenticate to the provider with a client secret or, with private_key_jwt, a key made
-- for it (its public half published at /federation/<id>/jwks.json); either is sealed
-- (AES-256-GCM) under the deployment's federation key. The claim names say where email, name
-- and groups are read from; a member of admin_group upstream administers the tenant here.
CREATE TABLE identity_providers (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    issuer             TEXT NOT NULL,
    client_id          TEXT NOT NULL,
    client_secret      BYTEA NULL,
    private_key        BYTEA NULL,
    key_id             TEXT NULL,
    email_claim        TEXT NOT NULL,
    name_claim         TEXT NOT NULL,
    groups_claim       TEXT NOT NULL,
    admin_group        TEXT NULL,
    passwords_allowed  BOOLEAN NOT NULL,
    created_at         BIGINT NOT NULL
);
CREATE INDEX identity_providers_tenant ON identity_providers(tenant_id);

-- Home realm discovery: an email domain belongs to one provider of one tenant.
CREATE TABLE federated_domains (
    domain  TEXT PRIMARY KEY,
    idp_id  TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE
);
CREATE INDEX federated_domains_idp ON federated_domains(idp_id);

-- One row per redirect to an upstream: found by the digest of its state, used once, bound to
-- the pending authorization request (and through it to the browser).
CREATE TABLE upstream_logins (
    state_digest  BYTEA PRIMARY KEY,
    idp_id        TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
    request_id    TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    verifier      TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX upstream_logins_expiry ON upstream_logins(expires_at);
