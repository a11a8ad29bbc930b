-- Opaque access tokens carry their row's jti, so a token's row is found by its primary key and
-- its digest is only compared, never searched for: the digest's index goes (each token written
-- dirtied one random page of it; issue 15).
--
-- Tokens issued before carry no jti; their digests stay findable in legacy_token_digests until
-- they have expired (pruning deletes them with the tokens).
CREATE TABLE legacy_token_digests (
    digest      BYTEA PRIMARY KEY,
    jti         TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
INSERT INTO legacy_token_digests (digest, jti, expires_at) SELECT digest, jti, expires_at FROM access_tokens;
CREATE INDEX legacy_token_digests_expiry ON legacy_token_digests(expires_at);

ALTER TABLE access_tokens DROP CONSTRAINT access_tokens_digest_key;
