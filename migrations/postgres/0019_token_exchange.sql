-- Token exchange (RFC 8693): an exchanged opaque access token keeps its delegation chain
-- (`act`, JSON), which introspection returns exactly as a JWT would carry it.
ALTER TABLE access_tokens ADD COLUMN act TEXT NULL;
