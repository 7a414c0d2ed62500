DROP FUNCTION IF EXISTS platform_load(integer, integer);
REVOKE SELECT ON pump_heartbeats FROM kitchen_dispatcher;
DROP TABLE IF EXISTS pump_heartbeats;
-- due_commands() back to 000006's order (oldest due first, any tenant).
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
DROP INDEX IF EXISTS commands_open_by_tenant_idx;
