-- Read models (DESIGN.md 7b). A view is the rows of one generation of one
-- projection of one tenant; `view_heads` says, per generation, which
-- projection version built it and whether it is the one read (`active`,
-- maintained by every append in the append's transaction), the one a rebuild
-- is filling (`building`, not read), or one left to clean up (`retired`).
-- Generations, not versions, key the rows, so a rebuild at the same version
-- (`kitchen-admin views rebuild`) also builds beside the rows being read.
-- `seq` is the log seq the rows reflect: for the active generation the
-- tenant's head, for a building one how far the rebuild got (where an
-- interrupted rebuild resumes).
CREATE TABLE IF NOT EXISTS view_heads (
    tenant_id  uuid        NOT NULL,
    projection text        NOT NULL,
    generation integer     NOT NULL,
    version    integer     NOT NULL,
    state      text        NOT NULL,
    seq        bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT view_heads_pkey PRIMARY KEY (tenant_id, projection, generation),
    CONSTRAINT view_heads_state_check CHECK (state IN ('building', 'active', 'retired')),
    CONSTRAINT view_heads_seq_check CHECK (seq >= 0)
);
-- Readers and appends look for THE active version: there is at most one.
CREATE UNIQUE INDEX IF NOT EXISTS view_heads_one_active
    ON view_heads (tenant_id, projection) WHERE state = 'active';

-- One row per key of a view, with the seq of the event that last changed it.
CREATE TABLE IF NOT EXISTS view_rows (
    tenant_id  uuid    NOT NULL,
    projection text    NOT NULL,
    generation integer NOT NULL,
    key        text    NOT NULL,
    doc        jsonb   NOT NULL,
    seq        bigint  NOT NULL,
    CONSTRAINT view_rows_pkey PRIMARY KEY (tenant_id, projection, generation, key),
    CONSTRAINT view_rows_doc_check CHECK (jsonb_typeof(doc) = 'object')
);

-- The same forced policy as every tenant table (migration 000003).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['view_heads', 'view_rows'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (tenant_id = app_current_tenant())
                 WITH CHECK (tenant_id = app_current_tenant())', t);
    END LOOP;
END
$$;

-- The gateway reads views; the worker (which appends) writes and rebuilds
-- them; the pump and realtime do not touch them.
GRANT SELECT ON view_heads, view_rows TO kitchen_gateway;
GRANT SELECT, INSERT, UPDATE, DELETE ON view_heads, view_rows TO kitchen_worker;

-- A rebuild serves every tenant, yet RLS shows the worker one tenant at a
-- time. As with due_commands() (migration 000006), it learns which tenants
-- need work from a function owned by the BYPASSRLS dispatcher that returns
-- only (tenant_id, projection) pairs: tenants with events whose view of a
-- projection has no active generation at the wanted version (or, with
-- `every_tenant`, all tenants with events: a forced rebuild).
GRANT USAGE, CREATE ON SCHEMA public TO kitchen_dispatcher;
GRANT SELECT (tenant_id, last_seq) ON tenant_sequences TO kitchen_dispatcher;
GRANT SELECT (tenant_id, projection, version, state) ON view_heads TO kitchen_dispatcher;

CREATE OR REPLACE FUNCTION views_to_rebuild(projections text[], versions integer[],
                                            every_tenant boolean)
    RETURNS TABLE (tenant_id uuid, projection text)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
AS $$
    SELECT s.tenant_id, w.projection
    FROM public.tenant_sequences s
    CROSS JOIN unnest(projections, versions) AS w(projection, version)
    WHERE s.last_seq > 0
      AND (every_tenant OR NOT EXISTS (
          SELECT 1 FROM public.view_heads h
          WHERE h.tenant_id = s.tenant_id AND h.projection = w.projection
            AND h.version = w.version AND h.state = 'active'))
    ORDER BY s.tenant_id, w.projection
$$;

ALTER FUNCTION views_to_rebuild(text[], integer[], boolean) OWNER TO kitchen_dispatcher;
REVOKE ALL ON FUNCTION views_to_rebuild(text[], integer[], boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION views_to_rebuild(text[], integer[], boolean) TO kitchen_worker;
REVOKE CREATE ON SCHEMA public FROM kitchen_dispatcher;
