-- The front door: gateway and realtime serve only `active` tenants. Each keeps
-- the statuses it has seen in memory; this channel tells them when one changes,
-- so the check costs no round trip on the hot path.

-- tenants: {"tenant_id": ..., "status": ... (null when the row is deleted)}, one
-- per changed row (tenants change rarely; a statement touches one or a few).
CREATE OR REPLACE FUNCTION notify_tenants() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tenants',
            json_build_object('tenant_id', OLD.tenant_id, 'status', NULL)::text);
    ELSE
        PERFORM pg_notify('tenants',
            json_build_object('tenant_id', NEW.tenant_id, 'status', NEW.status)::text);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS tenants_notify ON tenants;
CREATE TRIGGER tenants_notify
    AFTER INSERT OR UPDATE OF status, tenant_id OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION notify_tenants();

-- realtime refuses upgrades of tenants that are not active: it reads the status
-- (and nothing else of the household) under RLS, like every other read.
GRANT SELECT (tenant_id, status) ON tenants TO kitchen_realtime;
