-- Pushed authorization requests (RFC 9126): the parameters a client pushed, kept until the
-- browser brings their request_uri to /authorize (once) or they expire. Any instance may
-- receive the push and any other the browser.
CREATE TABLE pushed_requests (
    -- SHA-256 of the request_uri's random part: the database never holds a usable request_uri.
    digest      BYTEA PRIMARY KEY,
    client_id   TEXT NOT NULL,
    -- The authorization request's parameters, form-encoded, without the client's credentials.
    params      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- RFC 9126 §5 and §6: an app may be required to push its authorization requests.
ALTER TABLE apps ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
