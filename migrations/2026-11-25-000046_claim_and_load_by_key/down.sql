-- platform_load() and the partial indexes back to 000041's.
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

DROP INDEX IF EXISTS commands_in_flight_by_tenant_idx;
CREATE INDEX commands_in_flight_by_tenant_idx
    ON commands (tenant_id) WHERE status IN ('claimed', 'dispatched');
DROP INDEX IF EXISTS commands_open_by_tenant_idx;
CREATE INDEX commands_open_by_tenant_idx
    ON commands (tenant_id) WHERE status IN ('pending', 'claimed', 'dispatched');
