DROP FUNCTION IF EXISTS due_commands(integer, interval);
REVOKE ALL ON commands FROM kitchen_dispatcher;
REVOKE ALL ON SCHEMA public FROM kitchen_dispatcher;
