REVOKE DELETE ON users FROM kitchen_gateway;
REVOKE UPDATE (password_hash) ON users FROM kitchen_gateway;
REVOKE INSERT (tenant_id, id, email, display_name, password_hash, role) ON users FROM kitchen_gateway;
