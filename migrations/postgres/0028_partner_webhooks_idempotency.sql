-- Partner webhooks: URLs a partner registers to hear about all of its apps at once (an app
-- created or deleted, a signing key rotated, the server's included), which an app's own
-- webhooks cannot carry (an app's webhooks go with it when it is deleted). Outbox rows for
-- them belong to no app, so the outbox's app_id becomes optional.
CREATE TABLE partner_webhooks (
    id          TEXT PRIMARY KEY,
    partner_id  TEXT NOT NULL REFERENCES partners(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    UNIQUE (partner_id, url)
);
ALTER TABLE outbox ALTER COLUMN app_id DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN partner_webhook_id TEXT NULL REFERENCES partner_webhooks(id) ON DELETE CASCADE;
CREATE INDEX outbox_partner_webhook ON outbox(partner_webhook_id) WHERE partner_webhook_id IS NOT NULL;

-- Idempotency keys of the admin API's creates: the first request's answer, replayed to a
-- retry with the same key and body (secrets taken out: they are never stored). A row without
-- a status is a request still running; one older than a day is forgotten.
CREATE TABLE api_idempotency (
    client_id   TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    status      BIGINT NULL,
    body        TEXT NULL,
    etag        TEXT NULL,
    PRIMARY KEY (client_id, key)
);
CREATE INDEX api_idempotency_created ON api_idempotency(created_at);
