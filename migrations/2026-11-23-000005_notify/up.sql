-- Wake-ups, one channel per kind. A NOTIFY is a hint, never the source of truth:
-- listeners re-read the tables, so a lost notification delays but loses nothing.
-- One NOTIFY per statement (not per row): NOTIFY serialises commits, so fewer is
-- faster. Payloads stay far below the 8000-byte limit.

-- commands: {"tenant_id": ..., "id": ...} of the first new row (the gateway inserts
-- one per statement; the pump's sweep covers any other).
CREATE OR REPLACE FUNCTION notify_commands() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    first record;
BEGIN
    SELECT tenant_id, id INTO first FROM new_rows LIMIT 1;
    IF FOUND THEN
        PERFORM pg_notify('commands',
            json_build_object('tenant_id', first.tenant_id, 'id', first.id)::text);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS commands_notify ON commands;
CREATE TRIGGER commands_notify
    AFTER INSERT ON commands
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_commands();

-- events: {"tenant_id", "first_seq", "last_seq", "events": [{"seq","id","type"}...]}.
-- The list is dropped when it would not fit; the seq range always does, and
-- listeners read the events themselves from the table by seq.
CREATE OR REPLACE FUNCTION notify_events() RETURNS trigger
    LANGUAGE plpgsql
AS $$
DECLARE
    tenant uuid;
    first_seq bigint;
    last_seq bigint;
    listed jsonb;
    payload text;
BEGIN
    -- One statement appends for one tenant (the event store does); group anyway.
    FOR tenant, first_seq, last_seq, listed IN
        SELECT n.tenant_id, min(n.seq), max(n.seq),
               jsonb_agg(jsonb_build_object('seq', n.seq, 'id', n.id, 'type', n.type) ORDER BY n.seq)
        FROM new_rows n GROUP BY n.tenant_id
    LOOP
        payload := json_build_object('tenant_id', tenant, 'first_seq', first_seq,
                                     'last_seq', last_seq, 'events', listed)::text;
        IF octet_length(payload) > 7900 THEN
            payload := json_build_object('tenant_id', tenant, 'first_seq', first_seq,
                                         'last_seq', last_seq)::text;
        END IF;
        PERFORM pg_notify('events', payload);
    END LOOP;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS events_notify ON events;
CREATE TRIGGER events_notify
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events();
