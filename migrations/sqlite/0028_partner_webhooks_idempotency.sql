-- Partner webhooks: URLs a partner registers to hear about all of its apps at once (an app
-- created or deleted, a signing key rotated, the server's included), which an app's own
-- webhooks cannot carry (an app's webhooks go with it when it is deleted). Outbox rows for
-- them belong to no app, so the outbox's app_id becomes optional; SQLite changes a column's
-- NOT NULL only by rebuilding the table (nothing references the outbox, so no foreign key
-- breaks while it is rebuilt).
CREATE TABLE partner_webhooks (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (partner_id, url)
);

CREATE TABLE outbox_rebuilt (
    id                 TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    app_id             TEXT NULL REFERENCES apps(id) ON DELETE CASCADE,
    client_id          TEXT NOT NULL,
    subject            TEXT NOT NULL,
    sid                TEXT NULL,
    created_at         INTEGER NOT NULL,
    attempts           INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL,
    leased_until       INTEGER NULL,
    delivered_at       INTEGER NULL,
    abandoned_at       INTEGER NULL,
    last_error         TEXT NULL,
    payload            TEXT NULL,
    webhook_id         TEXT NULL REFERENCES app_webhooks(id) ON DELETE CASCADE,
    partner_webhook_id TEXT NULL REFERENCES partner_webhooks(id) ON DELETE CASCADE
);
INSERT INTO outbox_rebuilt (id, kind, app_id, client_id, subject, sid, created_at, attempts, next_attempt_at,
    leased_until, delivered_at, abandoned_at, last_error, payload, webhook_id)
SELECT id, kind, app_id, client_id, subject, sid, created_at, attempts, next_attempt_at,
    leased_until, delivered_at, abandoned_at, last_error, payload, webhook_id FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE delivered_at IS NULL AND abandoned_at IS NULL;
CREATE INDEX outbox_created ON outbox(created_at);
CREATE INDEX outbox_partner_webhook ON outbox(partner_webhook_id) WHERE partner_webhook_id IS NOT NULL;

-- Idempotency keys of the admin API's creates: the first request's answer, replayed to a
-- retry with the same key and body (secrets taken out: they are never stored). A row without
-- a status is a request still running; one older than a day is forgotten.
CREATE TABLE api_idempotency (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    status      INTEGER NULL,
    body        TEXT NULL,
    etag        TEXT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX api_idempotency_created ON api_idempotency(created_at);
