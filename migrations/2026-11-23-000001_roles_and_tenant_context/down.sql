-- Roles are cluster-wide and may serve other databases: they are left in place.
DROP FUNCTION IF EXISTS app_current_tenant();
