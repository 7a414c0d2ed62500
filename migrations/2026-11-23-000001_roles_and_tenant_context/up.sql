-- Roles are cluster-wide and only a superuser may create a BYPASSRLS role, so
-- `kitchen-admin bootstrap` creates them (with their passwords) before any
-- migration runs. Here we only check they are there, to fail with a clear message.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['kitchen_gateway', 'kitchen_pump', 'kitchen_worker',
                                     'kitchen_realtime', 'kitchen_dispatcher'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            RAISE EXCEPTION 'role % is missing: run `kitchen-admin bootstrap` (or setup) first', role_name;
        END IF;
    END LOOP;
END
$$;

-- The tenant of the current transaction, set by the adapters with
-- `set_config('app.tenant_id', $1, true)`. NULL when unset (so nothing matches):
-- after a transaction-local setting ends, Postgres leaves '' behind, not NULL.
CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
