-- The audit trail written as JSON lines (audit.log): how far the export has got, in the
-- stream's (at, id) order, and which instance writes it until when. One row; the instance
-- whose conditional UPDATE takes the lease writes, the others wait for it to run out.
CREATE TABLE audit_export (
    name          TEXT PRIMARY KEY,
    cursor_at     BIGINT NOT NULL,
    cursor_id     TEXT NOT NULL,
    holder        TEXT NULL,
    leased_until  BIGINT NOT NULL
);
INSERT INTO audit_export (name, cursor_at, cursor_id, holder, leased_until) VALUES ('jsonl', 0, '', NULL, 0);
