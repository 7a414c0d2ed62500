REVOKE SELECT (tenant_id, id, type, status, error, result_seqs) ON commands FROM kitchen_realtime;
DROP TRIGGER IF EXISTS commands_outcome_notify ON commands;
DROP FUNCTION IF EXISTS notify_command_outcome();
ALTER TABLE tenant_sequences DROP COLUMN IF EXISTS epoch;
