-- The Developer Portal: the key of the wizard submission that created an app, so a second
-- submit of the last wizard page finds the app instead of creating another.
CREATE TABLE app_creations (
    creation_key  TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    created_at    INTEGER NOT NULL
);
CREATE INDEX app_creations_app ON app_creations(app_id);
