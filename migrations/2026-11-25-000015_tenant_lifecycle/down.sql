DROP FUNCTION IF EXISTS erase_tenant(uuid, text, text, text);
DROP FUNCTION IF EXISTS reject_command(uuid, uuid, text, text);
DROP FUNCTION IF EXISTS platform_tenants(uuid, integer);
REVOKE ALL ON tenants FROM kitchen_dispatcher;
DROP TABLE IF EXISTS tenant_exports;
DROP TABLE IF EXISTS tenant_admin_secrets;
ALTER TABLE tenants DROP CONSTRAINT IF EXISTS tenants_status_check;
ALTER TABLE tenants
    DROP COLUMN IF EXISTS plan,
    DROP COLUMN IF EXISTS progress,
    DROP COLUMN IF EXISTS step,
    DROP COLUMN IF EXISTS reason,
    DROP COLUMN IF EXISTS erased_at,
    DROP COLUMN IF EXISTS erased_by,
    ADD CONSTRAINT tenants_status_check CHECK (status IN ('provisioning', 'active', 'disabled'));
