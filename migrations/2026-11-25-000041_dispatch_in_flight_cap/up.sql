-- A cap on each tenant's commands in flight in Temporal (claimed or dispatched,
-- not yet final), checked by the claim itself (issue 15, bench row 8).
--
-- Why: the pump deals start slots round robin over tenants, but once started,
-- a workflow waits in Temporal's task queue and in the worker's slots, one
-- FIFO for every tenant. Starts are far cheaper than runs, so without a cap a
-- tenant with a backlog had its whole backlog started within seconds and every
-- other tenant's next command queued behind it. With the cap, at most
-- `pump.max_in_flight_per_tenant` of one tenant's commands are ever ahead.

-- Counts through the rows in flight only (a handful per tenant).
CREATE INDEX IF NOT EXISTS commands_in_flight_by_tenant_idx
    ON commands (tenant_id) WHERE status IN ('claimed', 'dispatched');

-- claim_command() of 000010 with a cap: when the tenant already has
-- p_max_in_flight commands in flight, nothing is claimed and one row with
-- at_cap = true comes back (the pump then holds the tenant's line until one of
-- them is final). 0 turns the cap off. In flight: claimed and not stale (a
-- stale claim is retaken, and must not block its own retake), or dispatched
-- within p_stale_after (a workflow stuck or terminated outside the platform
-- cannot block its tenant for good). The count reads the statement's
-- snapshot: claims of one tenant running at once may overshoot the cap by their
-- number (the pump's line deals a held tenant no more turns than it has room).
CREATE FUNCTION claim_command(p_tenant uuid, p_id uuid, p_stale_after interval,
                              p_max_in_flight integer)
    RETURNS TABLE (claimed_type text, claimed_attempts integer, claimed_correlation uuid,
                   at_cap boolean)
    LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    PERFORM pg_catalog.set_config('synchronous_commit', 'off', true);
    IF p_max_in_flight > 0 THEN
        IF (SELECT count(*) FROM (
                SELECT 1 FROM public.commands f
                 WHERE f.tenant_id = p_tenant AND f.status IN ('claimed', 'dispatched')
                   AND f.updated_at >= pg_catalog.now() - p_stale_after
                   AND f.id <> p_id
                 LIMIT p_max_in_flight) n) >= p_max_in_flight THEN
            RETURN QUERY SELECT NULL::text, NULL::integer, NULL::uuid, true;
            RETURN;
        END IF;
    END IF;
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
    RETURNING c.type, c.attempts, c.correlation_id, false;
END
$$;

REVOKE ALL ON FUNCTION claim_command(uuid, uuid, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION claim_command(uuid, uuid, interval, integer) TO kitchen_pump;

-- platform_load() of 000040, its backstop made blind to the cap: a tenant
-- held at its cap waits for its own commands, not for the platform, so its
-- due commands (a backlog of minutes, say) no longer count in oldest_due_ms.
-- It is now the longest wait of a due command whose tenant has nothing in
-- flight: work that any live pump would take at once.
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;

CREATE OR REPLACE FUNCTION platform_load(p_cap integer, p_fresh_ms integer)
    RETURNS TABLE (open_commands bigint, oldest_due_ms bigint, heartbeat_age_ms bigint,
                   head_wait_ms bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT
        (SELECT count(*) FROM (SELECT 1 FROM public.commands c
                               WHERE c.status IN ('pending', 'claimed', 'dispatched')
                               LIMIT greatest(p_cap, 0)) open),
        (SELECT (extract(epoch FROM now() - min(c.next_attempt_at)) * 1000)::bigint
           FROM public.commands c
          WHERE c.status IN ('pending', 'claimed') AND c.next_attempt_at <= now()
            AND NOT EXISTS (SELECT 1 FROM public.commands f
                             WHERE f.tenant_id = c.tenant_id
                               AND f.status IN ('claimed', 'dispatched'))),
        (SELECT (extract(epoch FROM now() - max(h.beat_at)) * 1000)::bigint
           FROM public.pump_heartbeats h),
        (SELECT max(h.head_wait_ms) FROM public.pump_heartbeats h
          WHERE h.beat_at >= now() - make_interval(secs => greatest(p_fresh_ms, 0) / 1000.0))
$$;

ALTER FUNCTION platform_load(integer, integer) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION platform_load(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_load(integer, integer) TO kitchen_gateway;
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;
