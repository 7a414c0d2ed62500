-- An append in ONE statement and round trip (issue 17): `append_events()`
-- takes the tenant's lock, checks the stream's version, inserts the events
-- (one NOTIFY, by the trigger of 000005), upserts the snapshot and applies
-- every projection's changes, as the caller (SECURITY INVOKER: the worker's
-- privileges and the forced RLS of every table it writes).
--
-- Run on its own (an implicit transaction) it also sets the tenant, for that
-- transaction only, so `PgEventStore::append` is one round trip where it was
-- five (BEGIN + set; seq bump; check + insert + snapshot; views; COMMIT).
-- Inside the worker's transaction the tenant is already set: naming another
-- one is refused, so a caller cannot switch tenants through it.
--
-- Why plpgsql and not one CTE: the version check must read `aggregates` AFTER
-- the tenant's lock is taken (a statement's snapshot is fixed when it starts,
-- so a CTE would check against a snapshot older than the lock); each
-- statement of a VOLATILE plpgsql function takes a new snapshot.
--
-- Refusals are errors, so the statement (and the caller's transaction, which
-- must roll back anyway: the seq counter was bumped) writes nothing. They name
-- a constraint the adapter maps to a typed error, with what it needs in DETAIL:
--   append_aggregate_type   DETAIL = the stream's actual aggregate type
--   append_expected_version DETAIL = the stream's actual version
-- A replayed event id still fails on `events_pkey`, as before.
--
-- The events' `created_at` is the caller's (`p_created_at`): the projections,
-- computed by the caller before this one round trip, read it (orderBoard's
-- `dueAt`), so the view and the log agree on it. View changes carry the
-- 0-based index of their event (`p_change_offsets`); their seq is the first
-- seq plus it.
CREATE FUNCTION append_events(
    p_tenant uuid, p_aggregate uuid, p_type text, p_expected bigint, p_created_at timestamptz,
    p_ids uuid[], p_event_types text[], p_schema_versions integer[], p_payloads jsonb[],
    p_causations uuid[], p_correlations uuid[], p_metadata jsonb[],
    p_snapshot jsonb, p_snapshot_version integer,
    p_projections text[], p_projection_versions integer[],
    p_change_projections text[], p_change_keys text[], p_change_kinds text[],
    p_change_docs jsonb[], p_change_offsets bigint[])
    RETURNS bigint
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_setting text := pg_catalog.current_setting('app.tenant_id', true);
    v_count bigint := coalesce(pg_catalog.cardinality(p_ids), 0);
    v_last bigint;
    v_first bigint;
    v_actual_type text;
    v_actual_version bigint;
BEGIN
    IF v_setting IS NULL OR v_setting = '' THEN
        PERFORM pg_catalog.set_config('app.tenant_id', p_tenant::text, true);
    ELSIF v_setting::uuid IS DISTINCT FROM p_tenant THEN
        RAISE EXCEPTION 'append_events: this transaction belongs to another tenant'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF v_count = 0 THEN
        RAISE EXCEPTION 'append_events: nothing to append' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- 1. The tenant's lock, and its seqs: every other append of the tenant now
    --    waits until this transaction ends, so seqs are gapless and commit-ordered.
    INSERT INTO public.tenant_sequences AS s (tenant_id, last_seq)
    VALUES (p_tenant, v_count)
    ON CONFLICT (tenant_id) DO UPDATE
        SET last_seq = s.last_seq + v_count, updated_at = pg_catalog.now()
    RETURNING s.last_seq INTO v_last;
    v_first := v_last - v_count + 1;

    -- 2. The version check, in a snapshot taken under the lock: exact.
    SELECT a.type, a.version INTO v_actual_type, v_actual_version
      FROM public.aggregates a
     WHERE a.tenant_id = p_tenant AND a.id = p_aggregate;
    IF v_actual_type IS NOT NULL AND v_actual_type <> p_type THEN
        RAISE EXCEPTION 'append_events: stream % is a %, not a %', p_aggregate, v_actual_type, p_type
            USING CONSTRAINT = 'append_aggregate_type', DETAIL = v_actual_type;
    END IF;
    IF coalesce(v_actual_version, 0) <> p_expected THEN
        RAISE EXCEPTION 'append_events: stream % is at version %, not %',
                p_aggregate, coalesce(v_actual_version, 0), p_expected
            USING CONSTRAINT = 'append_expected_version',
                  DETAIL = coalesce(v_actual_version, 0)::text;
    END IF;

    -- 3. The events (the statement-level trigger sends one NOTIFY).
    INSERT INTO public.events (tenant_id, id, aggregate_type, aggregate_id, version, seq, type,
                               schema_version, payload, causation_id, correlation_id, metadata,
                               created_at)
    SELECT p_tenant, e.id, p_type, p_aggregate, p_expected + e.n, v_first + e.n - 1, e.event_type,
           e.schema_version, e.payload, e.causation_id, e.correlation_id, e.metadata, p_created_at
      FROM unnest(p_ids, p_event_types, p_schema_versions, p_payloads, p_causations,
                  p_correlations, p_metadata)
           WITH ORDINALITY AS e(id, event_type, schema_version, payload, causation_id,
                                correlation_id, metadata, n);

    -- 4. The snapshot, at the stream's new version and the last seq.
    INSERT INTO public.aggregates (tenant_id, id, type, snapshot, version, seq, schema_version)
    VALUES (p_tenant, p_aggregate, p_type, p_snapshot, p_expected + v_count, v_last,
            p_snapshot_version)
    ON CONFLICT (tenant_id, id) DO UPDATE
        SET snapshot = EXCLUDED.snapshot, version = EXCLUDED.version, seq = EXCLUDED.seq,
            schema_version = EXCLUDED.schema_version, updated_at = pg_catalog.now();

    -- 5. The read models (what `views::apply` did in a statement of its own):
    --    every projection's ACTIVE generation built by the caller's version
    --    moves to the new head and takes the changes; a tenant's first append
    --    starts its views. A generation being rebuilt is not active: the
    --    rebuild catches it up itself, under the tenant's lock.
    IF coalesce(pg_catalog.cardinality(p_projections), 0) > 0 THEN
        WITH registry AS (
            SELECT * FROM unnest(p_projections, p_projection_versions) AS r(projection, version)
        ), live AS (
            UPDATE public.view_heads h SET seq = v_last, updated_at = pg_catalog.now()
              FROM registry r
             WHERE h.tenant_id = p_tenant AND h.projection = r.projection
               AND h.version = r.version AND h.state = 'active'
            RETURNING h.projection, h.generation
        ), born AS (
            INSERT INTO public.view_heads (tenant_id, projection, generation, version, state, seq)
            SELECT p_tenant, r.projection, 1, r.version, 'active', v_last
              FROM registry r WHERE v_first = 1
            ON CONFLICT DO NOTHING
            RETURNING projection, generation
        ), target AS (
            SELECT projection, generation FROM live
            UNION ALL SELECT projection, generation FROM born
        ), change AS (
            SELECT c.projection, t.generation, c.key, c.kind, c.doc, v_first + c.offset_ AS seq
              FROM unnest(p_change_projections, p_change_keys, p_change_kinds, p_change_docs,
                          p_change_offsets) AS c(projection, key, kind, doc, offset_)
              JOIN target t ON t.projection = c.projection
        ), put AS (
            INSERT INTO public.view_rows (tenant_id, projection, generation, key, doc, seq)
            SELECT p_tenant, projection, generation, key, doc, seq FROM change WHERE kind = 'put'
            ON CONFLICT (tenant_id, projection, generation, key)
                DO UPDATE SET doc = EXCLUDED.doc, seq = EXCLUDED.seq
        ), merged AS (
            UPDATE public.view_rows v SET doc = v.doc || c.doc, seq = c.seq
              FROM change c
             WHERE c.kind = 'merge' AND v.tenant_id = p_tenant AND v.projection = c.projection
               AND v.generation = c.generation AND v.key = c.key
        )
        DELETE FROM public.view_rows v USING change c
         WHERE c.kind = 'delete' AND v.tenant_id = p_tenant AND v.projection = c.projection
           AND v.generation = c.generation AND v.key = c.key;
    END IF;
    RETURN v_first;
END
$$;

REVOKE ALL ON FUNCTION append_events(uuid, uuid, text, bigint, timestamptz, uuid[], text[],
    integer[], jsonb[], uuid[], uuid[], jsonb[], jsonb, integer, text[], integer[], text[],
    text[], text[], jsonb[], bigint[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events(uuid, uuid, text, bigint, timestamptz, uuid[], text[],
    integer[], jsonb[], uuid[], uuid[], jsonb[], jsonb, integer, text[], integer[], text[],
    text[], text[], jsonb[], bigint[]) TO kitchen_worker;
