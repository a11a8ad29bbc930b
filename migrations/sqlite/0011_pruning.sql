-- Pruning (audit issue 16, item 6): the client address a pending sign-in was started from, so
-- pending requests can be capped per address; the indexes that let each pruning batch find
-- its rows without a full scan; and the lease that lets one instance prune per period.
ALTER TABLE authorization_requests ADD COLUMN client_addr TEXT NULL;
CREATE INDEX authorization_requests_addr ON authorization_requests(client_addr, expires_at);

CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE INDEX authorization_codes_expiry ON authorization_codes(expires_at);
CREATE INDEX authorization_codes_grant ON authorization_codes(grant_id);
CREATE INDEX grant_tokens_expiry ON grant_tokens(expires_at);
CREATE INDEX revoked_jwts_expiry ON revoked_jwts(expires_at);
CREATE INDEX revoked_grants_age ON revoked_grants(revoked_at);
CREATE INDEX login_failures_window ON login_failures(window_start);
CREATE INDEX registration_tokens_expiry ON registration_tokens(expires_at);
CREATE INDEX audit_events_age ON audit_events(at);

-- One row: the instance whose conditional UPDATE moves next_run_at prunes this period.
CREATE TABLE prune_lease (
    name         TEXT PRIMARY KEY,
    next_run_at  INTEGER NOT NULL
);
INSERT INTO prune_lease (name, next_run_at) VALUES ('prune', 0);
