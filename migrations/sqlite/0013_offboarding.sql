-- Offboarding (issue 18): a disabled person cannot sign in, and what they were issued stops
-- working when they are disabled. NULL is enabled.
ALTER TABLE users ADD COLUMN disabled_at INTEGER NULL;
