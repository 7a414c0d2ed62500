DROP FUNCTION IF EXISTS platform_load(integer, integer, integer, integer);
REVOKE SELECT (updated_at) ON commands FROM kitchen_dispatcher;
