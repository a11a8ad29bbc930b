-- Webhooks (Standard Webhooks): URLs an app's partner registered to hear about the app's
-- approvals, each with the secret its deliveries are signed with; the outbox carries each
-- event's JSON and the webhook it goes to. The secret is kept as is: every instance signs
-- with it, as the receiver verifies with it.
CREATE TABLE app_webhooks (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    url         TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (app_id, url)
);
ALTER TABLE outbox ADD COLUMN payload TEXT NULL;
ALTER TABLE outbox ADD COLUMN webhook_id TEXT NULL REFERENCES app_webhooks(id) ON DELETE CASCADE;
