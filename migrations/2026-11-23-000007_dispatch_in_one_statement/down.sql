DROP FUNCTION IF EXISTS claim_command(uuid, uuid, interval);
DROP FUNCTION IF EXISTS mark_command_dispatched(uuid, uuid, text);
DROP FUNCTION IF EXISTS release_command(uuid, uuid, bigint);
