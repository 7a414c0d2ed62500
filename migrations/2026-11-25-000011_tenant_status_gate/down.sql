REVOKE SELECT (tenant_id, status) ON tenants FROM kitchen_realtime;
DROP TRIGGER IF EXISTS tenants_notify ON tenants;
DROP FUNCTION IF EXISTS notify_tenants();
