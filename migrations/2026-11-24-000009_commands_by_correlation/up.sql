-- GET /v1/commands?correlationId= lists a correlation's commands, oldest first
-- (keyset paging on created_at, id), within one tenant.
CREATE INDEX IF NOT EXISTS commands_correlation_idx
    ON commands (tenant_id, correlation_id, created_at, id);
