-- Tenant lifecycle (DESIGN.md section 7): the statuses a provisioning saga or
-- an offboarding can end in, where the saga's progress and a tombstone's step
-- and reason are kept, the admin's password hash apart from the command payload,
-- the export of an offboarded tenant, and the one way to erase a tenant's rows.

ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
ALTER TABLE tenants
    ADD CONSTRAINT tenants_status_check
        CHECK (status IN ('provisioning', 'active', 'disabled', 'failed', 'cancelled', 'erased')),
    -- The household's plan (free text chosen by the platform, e.g. "family").
    ADD COLUMN IF NOT EXISTS plan text,
    -- The saga's progress for the API: {percent, step, steps, error?}.
    ADD COLUMN IF NOT EXISTS progress jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- On a tombstone: the step that failed or was cancelled, and why.
    ADD COLUMN IF NOT EXISTS step text,
    ADD COLUMN IF NOT EXISTS reason text,
    -- Audit of erase_tenant(): when and by which database user.
    ADD COLUMN IF NOT EXISTS erased_at timestamptz,
    ADD COLUMN IF NOT EXISTS erased_by text;

-- The admin's argon2id hash, written by the gateway in the same transaction as
-- the `tenant.provision` command (never in its payload), read by the worker
-- when it creates the admin user, and deleted once that user exists.
CREATE TABLE IF NOT EXISTS tenant_admin_secrets (
    tenant_id     uuid        NOT NULL,
    command_id    uuid        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_admin_secrets_pkey PRIMARY KEY (tenant_id, command_id),
    CONSTRAINT tenant_admin_secrets_hash_check CHECK (password_hash LIKE '$argon2id$%')
);

-- The export of an offboarded tenant, one JSON line per row (events in seq
-- order, then the current state); downloadable until the tenant is erased,
-- which removes it like every other row of the tenant.
CREATE TABLE IF NOT EXISTS tenant_exports (
    tenant_id  uuid        NOT NULL,
    line_no    bigint      NOT NULL,
    line       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_exports_pkey PRIMARY KEY (tenant_id, line_no)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_admin_secrets', 'tenant_exports'] LOOP
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

-- gateway: stores the hash with the command; reads the export it serves.
GRANT INSERT ON tenant_admin_secrets TO kitchen_gateway;
GRANT SELECT ON tenant_exports TO kitchen_gateway;
-- worker: reads the hash to create the admin, scrubs it; writes the export.
GRANT SELECT, DELETE ON tenant_admin_secrets TO kitchen_worker;
GRANT SELECT, INSERT, DELETE ON tenant_exports TO kitchen_worker;

-- The platform API lists every tenant (GET /v1/tenants), which RLS forbids to
-- any service role. As with due_commands() (000006), a function owned by the
-- BYPASSRLS dispatcher returns only lifecycle columns (no preferences), in
-- pages; only the gateway may call it.
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;
GRANT SELECT (tenant_id, name, status, plan, progress, step, reason, created_at, updated_at)
    ON tenants TO kitchen_dispatcher;

CREATE OR REPLACE FUNCTION platform_tenants(p_after uuid, p_limit integer)
    RETURNS TABLE (tenant_id uuid, name text, status text, plan text, progress jsonb,
                   step text, reason text, created_at timestamptz, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT t.tenant_id, t.name, t.status, t.plan, t.progress, t.step, t.reason,
           t.created_at, t.updated_at
    FROM public.tenants t
    WHERE p_after IS NULL OR t.tenant_id > p_after
    ORDER BY t.tenant_id
    LIMIT least(greatest(p_limit, 0), 1000)
$$;

ALTER FUNCTION platform_tenants(uuid, integer) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION platform_tenants(uuid, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_tenants(uuid, integer) TO kitchen_gateway;
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;

-- A platform command the pump cannot route (its workflow is closed) ends
-- rejected with a code, in one statement, under RLS like claim_command().
CREATE FUNCTION reject_command(p_tenant uuid, p_id uuid, p_code text, p_reason text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    UPDATE public.commands c
       SET status = 'rejected', claimed_at = NULL, updated_at = pg_catalog.now(),
           error = pg_catalog.jsonb_build_object('code', p_code, 'reason', p_reason)
     WHERE c.tenant_id = p_tenant AND c.id = p_id AND c.status = 'claimed';
END
$$;
REVOKE ALL ON FUNCTION reject_command(uuid, uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reject_command(uuid, uuid, text, text) TO kitchen_pump;

-- The one way to remove a tenant's rows, events included (no role may DELETE
-- events otherwise). Runs as the owner (SECURITY DEFINER; the owner is bound by
-- the forced RLS too, so it sets the tenant for its own transaction). It takes
-- the tenant's append lock (its tenant_sequences row) so no append interleaves,
-- deletes the tenant's rows from EVERY table of this schema that has a
-- `tenant_id` column, as found in PostgreSQL's catalog (a table added later is
-- covered without touching this function), except:
--   * `tenants`: the row stays as a tombstone (status, step, reason, audit),
--     its name and preferences replaced, so it holds no personal data;
--   * `commands` of the platform (type `tenant.*`): kept, payload replaced by
--     {"erased": true} (it held the household's name and the admin's email).
-- Returns the number of rows deleted. Only the worker may execute it.
CREATE FUNCTION erase_tenant(p_tenant uuid, p_status text, p_step text, p_reason text)
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
DECLARE
    tbl regclass;
    n bigint;
    total bigint := 0;
BEGIN
    IF p_status NOT IN ('failed', 'cancelled', 'erased') THEN
        RAISE EXCEPTION 'erase_tenant: status % is not a tombstone status', p_status;
    END IF;
    PERFORM set_config('app.tenant_id', p_tenant::text, true);
    PERFORM 1 FROM public.tenant_sequences s WHERE s.tenant_id = p_tenant FOR UPDATE;
    FOR tbl IN
        SELECT c.oid::regclass
        FROM pg_class c
        JOIN pg_namespace ns ON ns.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE ns.nspname = 'public' AND c.relkind IN ('r', 'p')
          AND a.attname = 'tenant_id' AND NOT a.attisdropped
          AND c.relname NOT IN ('tenants', 'commands')
        ORDER BY c.relname
    LOOP
        EXECUTE format('DELETE FROM %s WHERE tenant_id = $1', tbl) USING p_tenant;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    DELETE FROM public.commands c WHERE c.tenant_id = p_tenant AND c.type NOT LIKE 'tenant.%';
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;
    UPDATE public.commands c SET payload = '{"erased": true}'::jsonb, updated_at = now()
     WHERE c.tenant_id = p_tenant AND c.type LIKE 'tenant.%' AND c.payload <> '{"erased": true}'::jsonb;
    UPDATE public.tenants t
       SET status = p_status, step = p_step, reason = left(p_reason, 500),
           name = 'erased', preferences = '{}'::jsonb, plan = NULL,
           erased_at = now(), erased_by = session_user, updated_at = now()
     WHERE t.tenant_id = p_tenant;
    RAISE LOG 'erase_tenant: tenant % erased by % (status %, step %): % rows',
        p_tenant, session_user, p_status, p_step, total;
    RETURN total;
END
$$;
REVOKE ALL ON FUNCTION erase_tenant(uuid, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION erase_tenant(uuid, text, text, text) TO kitchen_worker;
