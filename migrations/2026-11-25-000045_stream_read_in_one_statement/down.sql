DROP FUNCTION IF EXISTS stream_events_after(uuid, bigint, integer);
