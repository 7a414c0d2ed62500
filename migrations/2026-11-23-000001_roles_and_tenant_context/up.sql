-- Service login roles. Roles are cluster-wide, so they may exist already (created
-- by `kitchen-admin bootstrap` with passwords, or by another database's run).
-- The exception handler makes concurrent runs on several databases safe.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['kitchen_gateway', 'kitchen_pump', 'kitchen_worker', 'kitchen_realtime'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
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
