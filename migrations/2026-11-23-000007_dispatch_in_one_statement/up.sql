-- The pump's writes to one command -- claim, dispatched, release -- each in ONE
-- statement and round trip instead of BEGIN + set tenant, UPDATE, COMMIT.
--
-- These run as the caller (SECURITY INVOKER): RLS and the pump's column grants
-- apply exactly as before. Each first sets, for the caller's transaction only,
-- the tenant (so the policy admits that tenant's row and no other) and
-- synchronous_commit = off (the pump's commits are leases: one lost in a crash
-- is redone, and the workflow start it led to is idempotent; ADR 0002). Called
-- outside a transaction, both settings end with the statement's own.
-- Names are schema-qualified, as callers' search_path is not trusted.

CREATE FUNCTION claim_command(p_tenant uuid, p_id uuid, p_stale_after interval)
    RETURNS TABLE (claimed_type text, claimed_attempts integer)
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    RETURN QUERY
    UPDATE public.commands c
       SET status = 'claimed', claimed_at = pg_catalog.now(), attempts = c.attempts + 1,
           updated_at = pg_catalog.now()
     WHERE (c.tenant_id, c.id) IN (
           SELECT d.tenant_id, d.id FROM public.commands d
            WHERE d.tenant_id = p_tenant AND d.id = p_id
              AND ((d.status = 'pending' AND d.next_attempt_at <= pg_catalog.now())
                   OR (d.status = 'claimed' AND d.claimed_at < pg_catalog.now() - p_stale_after))
              FOR UPDATE SKIP LOCKED)
    RETURNING c.type, c.attempts;
END
$$;

CREATE FUNCTION mark_command_dispatched(p_tenant uuid, p_id uuid, p_workflow_id text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    -- A worker may already have finished the command: its final status stays.
    UPDATE public.commands c
       SET status = 'dispatched', workflow_id = p_workflow_id, claimed_at = NULL,
           updated_at = pg_catalog.now()
     WHERE c.tenant_id = p_tenant AND c.id = p_id AND c.status = 'claimed';
END
$$;

CREATE FUNCTION release_command(p_tenant uuid, p_id uuid, p_retry_in_ms bigint)
    RETURNS void
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    UPDATE public.commands c
       SET status = 'pending', claimed_at = NULL, updated_at = pg_catalog.now(),
           next_attempt_at = pg_catalog.now() + pg_catalog.make_interval(secs => p_retry_in_ms::double precision / 1000)
     WHERE c.tenant_id = p_tenant AND c.id = p_id AND c.status = 'claimed';
END
$$;

REVOKE ALL ON FUNCTION claim_command(uuid, uuid, interval) FROM PUBLIC;
REVOKE ALL ON FUNCTION mark_command_dispatched(uuid, uuid, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION release_command(uuid, uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_command(uuid, uuid, interval) TO kitchen_pump;
GRANT EXECUTE ON FUNCTION mark_command_dispatched(uuid, uuid, text) TO kitchen_pump;
GRANT EXECUTE ON FUNCTION release_command(uuid, uuid, bigint) TO kitchen_pump;
