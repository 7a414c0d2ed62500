-- claim_command() also returns the command's correlation id, so the pump can
-- put it on the workflow (its memo): one id followable from the POST to the
-- workflow to the events. Same body otherwise (see 000007).
DROP FUNCTION IF EXISTS claim_command(uuid, uuid, interval);

CREATE FUNCTION claim_command(p_tenant uuid, p_id uuid, p_stale_after interval)
    RETURNS TABLE (claimed_type text, claimed_attempts integer, claimed_correlation uuid)
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
    RETURNING c.type, c.attempts, c.correlation_id;
END
$$;

REVOKE ALL ON FUNCTION claim_command(uuid, uuid, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_command(uuid, uuid, interval) TO kitchen_pump;
