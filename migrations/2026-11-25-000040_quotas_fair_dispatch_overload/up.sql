-- Quotas, fair dispatch and overload signals (issue 15).

-- A tenant's open (not final) commands: the gateway's insert counts them against
-- `quotas.max_open_commands` (command_queue.rs). Final rows, the bulk of the
-- table, are not indexed.
CREATE INDEX IF NOT EXISTS commands_open_by_tenant_idx
    ON commands (tenant_id) WHERE status IN ('pending', 'claimed', 'dispatched');

-- Fair work list: the same rows as 000006, dealt round robin over tenants (each
-- tenant's first due command, then each one's second, ...), so one tenant's
-- backlog never fills a sweep batch ahead of another tenant's next command.
-- The sort covers every due row; the global backlog stays bounded by the
-- gateway's overload shedding (`overload.max_open_commands`).
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;

CREATE OR REPLACE FUNCTION due_commands(max_rows integer, stale_after interval)
    RETURNS TABLE (tenant_id uuid, id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT d.tenant_id, d.id
    FROM (SELECT c.tenant_id, c.id, c.next_attempt_at,
                 row_number() OVER (PARTITION BY c.tenant_id
                                    ORDER BY c.next_attempt_at, c.id) AS turn
          FROM public.commands c
          WHERE (c.status = 'pending' AND c.next_attempt_at <= now())
             OR (c.status = 'claimed' AND c.claimed_at < now() - stale_after)) d
    ORDER BY d.turn, d.next_attempt_at, d.tenant_id
    LIMIT least(greatest(max_rows, 0), 1000)
$$;

-- Pump liveness, for the gateway's overload reading: each pump process
-- upserts its row about every second (and drops rows silent for an hour),
-- with the longest wait, since its last beat, of a command first in its
-- tenant's line for a start slot (`head_wait_ms`: what a new command of any
-- tenant waits, whatever one tenant's backlog). Platform data, not tenant
-- data: no tenant_id, no RLS; only the pump writes it and nobody else reads
-- it except through platform_load().
CREATE TABLE IF NOT EXISTS pump_heartbeats (
    pump_id      uuid        NOT NULL,
    beat_at      timestamptz NOT NULL DEFAULT now(),
    head_wait_ms bigint      NOT NULL DEFAULT 0,
    CONSTRAINT pump_heartbeats_pkey PRIMARY KEY (pump_id),
    CONSTRAINT pump_heartbeats_head_wait_check CHECK (head_wait_ms >= 0)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON pump_heartbeats TO kitchen_pump;

-- What the gateway learns about load, across tenants, as four numbers only:
-- open (not final) commands, counted up to p_cap; how long the oldest command
-- due for dispatch has waited for it (NULL when none waits), from the pump's
-- partial index; the age of the freshest pump heartbeat (NULL when none); and
-- the longest head wait reported by pumps whose heartbeat is at most
-- p_fresh_ms old (NULL when none is). Owned by the BYPASSRLS dispatcher like
-- due_commands(); only the gateway may call it.
GRANT SELECT ON pump_heartbeats TO kitchen_dispatcher;

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
          WHERE c.status IN ('pending', 'claimed') AND c.next_attempt_at <= now()),
        (SELECT (extract(epoch FROM now() - max(h.beat_at)) * 1000)::bigint
           FROM public.pump_heartbeats h),
        (SELECT max(h.head_wait_ms) FROM public.pump_heartbeats h
          WHERE h.beat_at >= now() - make_interval(secs => greatest(p_fresh_ms, 0) / 1000.0))
$$;

ALTER FUNCTION platform_load(integer, integer) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION platform_load(integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION platform_load(integer, integer) TO kitchen_gateway;
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;
