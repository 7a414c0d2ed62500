-- Every tenant table: RLS on, forced even for the owner, one policy.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'users', 'menu_items', 'commands',
                             'tenant_sequences', 'events', 'aggregates'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (tenant_id = app_current_tenant())
                 WITH CHECK (tenant_id = app_current_tenant())', t);
    END LOOP;
END
$$;

-- The pump dispatches for every tenant, so it must find pending commands without
-- a tenant set. This policy lets it see and update rows across tenants, but the
-- column privileges of migration 000004 limit it to routing columns: it can never
-- read a payload, user, metadata or error, nor insert or delete a command.
DROP POLICY IF EXISTS pump_dispatch_select ON commands;
CREATE POLICY pump_dispatch_select ON commands FOR SELECT TO kitchen_pump USING (true);
DROP POLICY IF EXISTS pump_dispatch_update ON commands;
CREATE POLICY pump_dispatch_update ON commands FOR UPDATE TO kitchen_pump
    USING (status IN ('pending', 'claimed'))
    WITH CHECK (status IN ('pending', 'claimed', 'dispatched', 'failed'));
