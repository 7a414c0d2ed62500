-- Members (POST /v1/members, DELETE /v1/members/{id}, PUT /v1/me/password on
-- the gateway): the household's admin adds and removes users, any user changes
-- their own password. Only the columns those writes need; RLS as everywhere.
GRANT INSERT (tenant_id, id, email, display_name, password_hash, role) ON users TO kitchen_gateway;
GRANT UPDATE (password_hash) ON users TO kitchen_gateway;
GRANT DELETE ON users TO kitchen_gateway;
