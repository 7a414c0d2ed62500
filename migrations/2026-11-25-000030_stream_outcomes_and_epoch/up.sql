-- The stream's honest head and command outcomes on the socket (issue 14).

-- The incarnation of a tenant's log. The append lock row is created with the
-- log (by provisioning, or by the first append) and removed only by
-- erase_tenant(), so a recreated log gets a new epoch: a client holding seqs of
-- the old log learns that its place no longer exists (stream `reset` frame,
-- close 4009) even when the new log has grown past them.
ALTER TABLE tenant_sequences
    ADD COLUMN IF NOT EXISTS epoch uuid NOT NULL DEFAULT gen_random_uuid();

-- command_outcomes: {"tenant_id", "id"} of a household command that became
-- succeeded, rejected or failed. Fired in the transaction that set the status,
-- which is also the one that appended its events, so the events' NOTIFY comes
-- first; realtime reads the outcome columns itself (a wake-up, as ever).
-- Platform commands (`tenant.*`) live on the tenant's rows but are not the
-- household's: they are not announced.
CREATE OR REPLACE FUNCTION notify_command_outcome() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('command_outcomes',
        json_build_object('tenant_id', NEW.tenant_id, 'id', NEW.id)::text);
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS commands_outcome_notify ON commands;
CREATE TRIGGER commands_outcome_notify
    AFTER UPDATE OF status ON commands
    FOR EACH ROW
    WHEN (NEW.status IN ('succeeded', 'rejected', 'failed')
          AND OLD.status IS DISTINCT FROM NEW.status
          AND NEW.type NOT LIKE 'tenant.%')
    EXECUTE FUNCTION notify_command_outcome();

-- realtime reads just the outcome columns of its tenant's commands (never the
-- payload, user or metadata); RLS limits it to the socket's tenant.
GRANT SELECT (tenant_id, id, type, status, error, result_seqs) ON commands TO kitchen_realtime;
