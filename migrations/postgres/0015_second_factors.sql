-- Second factors (issue 18): TOTP (RFC 6238) with a replay guard, single-use recovery codes,
-- the authentication methods of a session and of what it issued (RFC 8176 `amr`), and each
-- tenant's policy on who must use a second factor.
CREATE TABLE totp_factors (
    user_id      TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret       BYTEA NOT NULL,
    -- NULL while the person is enrolling: the factor counts once a first code was right.
    confirmed_at BIGINT NULL,
    -- The newest time step a code was accepted for; a code for it or an older step is refused.
    last_step    BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);

CREATE TABLE recovery_codes (
    digest   BYTEA PRIMARY KEY,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    used_at  BIGINT NULL
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

-- Space-separated RFC 8176 values: `pwd`, then `otp mfa` once a second factor was used.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE authorization_codes ADD COLUMN amr TEXT NULL;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT NULL;

-- `off`, `admins` (administrators must use a second factor; the default) or `everyone`.
ALTER TABLE tenants ADD COLUMN mfa_policy TEXT NOT NULL DEFAULT 'admins';
