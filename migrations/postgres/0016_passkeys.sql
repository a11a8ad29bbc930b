-- Passkeys (issue 18): a person's WebAuthn credentials, and the challenge of each ceremony in
-- progress, kept here so that any instance can finish what another started.
CREATE TABLE passkeys (
    -- The credential ID, unpadded base64url, as authenticators and browsers name it.
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    -- The public key and what the authenticator reported at registration (passki's StoredPasskey, JSON).
    credential    TEXT NOT NULL,
    -- The signature counter; an assertion must raise it unless the authenticator keeps none (0).
    counter       BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NULL
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- One ceremony per key (a pending sign-in, a person, a session): starting again replaces the
-- challenge, and finishing takes it away, so each challenge is answered once.
CREATE TABLE webauthn_ceremonies (
    key         TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
