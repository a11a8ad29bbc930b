-- Secrets the whole deployment shares, made by whichever instance starts first: the key that
-- signs sign-in device cookies, so a cookie from one instance is known on every other.
CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);
