DROP FUNCTION IF EXISTS append_events(uuid, uuid, text, bigint, timestamptz, uuid[], text[],
    integer[], jsonb[], uuid[], uuid[], jsonb[], jsonb, integer, text[], integer[], text[],
    text[], text[], jsonb[], bigint[]);
