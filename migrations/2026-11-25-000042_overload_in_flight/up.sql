-- platform_load() with a fifth reading: the commands of all tenants in flight
-- in Temporal (claimed or dispatched, not yet final), for the gateway's
-- `overload.max_in_flight_commands` rule (issue 15, bench row 9).
--
-- Why: at a steady rate near what the platform sustains, the pump keeps up
-- (its line's head wait stays short) while the queue builds inside Temporal's
-- task queue and the worker's slots, where the gateway cannot look. The rows
-- in flight are that queue, counted from PostgreSQL: a count past what the
-- workers run at once is work waiting in Temporal.
--
-- A new signature beside the two-argument function of 000040/000041, which
-- stays for gateways of the previous release during a rolling upgrade.
-- In flight counts as in claim_command(): claimed or dispatched, last
-- changed within p_stale_ms (a workflow terminated outside the platform cannot
-- count for good), counted up to p_in_flight_cap through
-- commands_in_flight_by_tenant_idx. The dispatcher, owner of the function,
-- may now read updated_at too (a time; it reads no payload).
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;
GRANT SELECT (updated_at) ON commands TO kitchen_dispatcher;

CREATE FUNCTION platform_load(p_cap integer, p_fresh_ms integer,
                              p_in_flight_cap integer, p_stale_ms integer)
    RETURNS TABLE (open_commands bigint, oldest_due_ms bigint, heartbeat_age_ms bigint,
                   head_wait_ms bigint, in_flight bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT l.open_commands, l.oldest_due_ms, l.heartbeat_age_ms, l.head_wait_ms,
        (SELECT count(*) FROM (SELECT 1 FROM public.commands f
                                WHERE f.status IN ('claimed', 'dispatched')
                                  AND f.updated_at >= now() - make_interval(
                                          secs => greatest(p_stale_ms, 0) / 1000.0)
                                LIMIT greatest(p_in_flight_cap, 0)) n)
      FROM public.platform_load(p_cap, p_fresh_ms) l
$$;

ALTER FUNCTION platform_load(integer, integer, integer, integer) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION platform_load(integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_load(integer, integer, integer, integer) TO kitchen_gateway;
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;
