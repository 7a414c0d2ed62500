-- The pump serves every tenant, yet RLS lets it see one tenant at a time. It
-- learns where work is from this function, which returns only (tenant_id, id)
-- pairs of commands due for dispatch -- the same facts the `commands` NOTIFY
-- carries -- and then claims each command inside that tenant's transaction.
--
-- The function runs as `kitchen_dispatcher`, a NOLOGIN role with BYPASSRLS that
-- `kitchen-admin bootstrap` creates (only a superuser can); it may read just the
-- columns below. No service role gets a cross-tenant policy on any table.
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;
GRANT SELECT (tenant_id, id, status, next_attempt_at, claimed_at) ON commands TO kitchen_dispatcher;

CREATE OR REPLACE FUNCTION due_commands(max_rows integer, stale_after interval)
    RETURNS TABLE (tenant_id uuid, id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT c.tenant_id, c.id
    FROM public.commands c
    WHERE (c.status = 'pending' AND c.next_attempt_at <= now())
       OR (c.status = 'claimed' AND c.claimed_at < now() - stale_after)
    ORDER BY c.next_attempt_at
    LIMIT least(greatest(max_rows, 0), 1000)
$$;

ALTER FUNCTION due_commands(integer, interval) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION due_commands(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION due_commands(integer, interval) TO kitchen_pump;
-- Nothing else may be created in public by the dispatcher after this point.
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;
