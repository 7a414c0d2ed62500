-- Least privilege per service. Tables grant nothing to PUBLIC; each role gets
-- exactly what its service does. Row visibility is further limited by RLS.

-- command-gateway: accepts commands, answers status, snapshot and event reads.
GRANT SELECT, INSERT ON commands TO kitchen_gateway;
GRANT SELECT ON events, aggregates, tenant_sequences, tenants, menu_items TO kitchen_gateway;

-- command-pump: routing columns of commands only, within one tenant (it learns
-- which tenants have work from due_commands(), migration 000006).
GRANT SELECT (tenant_id, id, type, status, aggregate_id, correlation_id, workflow_id,
              attempts, next_attempt_at, claimed_at, created_at, updated_at)
    ON commands TO kitchen_pump;
GRANT UPDATE (status, workflow_id, attempts, next_attempt_at, claimed_at, updated_at, error)
    ON commands TO kitchen_pump;

-- worker: runs commands to completion and provisions tenants.
GRANT SELECT, UPDATE ON commands TO kitchen_worker;
GRANT SELECT, INSERT ON events TO kitchen_worker;
GRANT SELECT, INSERT, UPDATE ON aggregates, tenant_sequences TO kitchen_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, menu_items TO kitchen_worker;

-- realtime: reads the log it streams.
GRANT SELECT ON events, tenant_sequences TO kitchen_realtime;
