DROP FUNCTION IF EXISTS views_to_rebuild(text[], integer[], boolean);
REVOKE SELECT (tenant_id, last_seq) ON tenant_sequences FROM kitchen_dispatcher;
DROP TABLE IF EXISTS view_rows;
DROP TABLE IF EXISTS view_heads;
