-- Claims and load readings that stay cheap while a tenant has a backlog
-- (issue 15, bench row 8: PostgreSQL spent 1.1 cores on ~50 commands/s).
--
-- 1. A tenant's open and in-flight commands indexed by (tenant_id, id), not
--    (tenant_id) alone. claim_command() and mark_command_dispatched() find one
--    row by its key, but PL/pgSQL keeps the plan it made while the table was
--    small (a generic plan), and that plan read the row through the partial
--    index on tenant_id, filtering on id: each claim walked every open command
--    of its tenant and their dead versions (pg_stat_statements: 122 ms per
--    claim beside a 2,000-command backlog, against ~0.1 ms for a key lookup).
--    With the key in both partial indexes, whichever index the plan picks
--    finds the row by its key. Counting a tenant's open commands (the
--    gateway's insert) still reads the same index by its first column.
DROP INDEX IF EXISTS commands_open_by_tenant_idx;
CREATE INDEX commands_open_by_tenant_idx
    ON commands (tenant_id, id) WHERE status IN ('pending', 'claimed', 'dispatched');
DROP INDEX IF EXISTS commands_in_flight_by_tenant_idx;
CREATE INDEX commands_in_flight_by_tenant_idx
    ON commands (tenant_id, id) WHERE status IN ('claimed', 'dispatched');

-- 2. platform_load()'s oldest-due reading probed "has this tenant anything in
--    flight?" once per due command: 2,000 probes for one tenant's backlog,
--    each walking that tenant's in-flight index entries, dead versions
--    included, every overload.refresh_ms of every gateway (895 ms per reading
--    in row 8). Now the due commands are grouped by tenant first: one probe per
--    tenant with due work. Same answer.
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
        (SELECT (extract(epoch FROM now() - min(d.oldest)) * 1000)::bigint
           FROM (SELECT c.tenant_id, min(c.next_attempt_at) AS oldest
                   FROM public.commands c
                  WHERE c.status IN ('pending', 'claimed') AND c.next_attempt_at <= now()
                  GROUP BY c.tenant_id) d
          WHERE NOT EXISTS (SELECT 1 FROM public.commands f
                             WHERE f.tenant_id = d.tenant_id
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
