REVOKE SELECT (tenant_id, id, email, role, password_hash) ON users FROM kitchen_gateway;
DROP TABLE IF EXISTS refresh_tokens;
