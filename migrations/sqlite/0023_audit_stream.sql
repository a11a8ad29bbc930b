-- The admin API's audit stream reads events in (at, id) order after a cursor.
CREATE INDEX audit_events_stream ON audit_events(at, id);
