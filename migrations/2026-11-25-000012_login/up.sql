-- Login (POST /v1/auth/token, /refresh, /logout on the gateway).

-- Refresh tokens, stored hashed (SHA-256 of the token; the token itself is
-- 244 random bits, so a fast hash is enough). Each refresh rotates: the used
-- row gets `used_at` and a new row of the same family is issued. A used token
-- presented again means it was stolen (or replayed): the whole family is
-- revoked, so neither the thief nor the user can go on with it.
CREATE TABLE IF NOT EXISTS refresh_tokens (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    token_hash text        NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT refresh_tokens_hash_key UNIQUE (tenant_id, token_hash),
    CONSTRAINT refresh_tokens_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS refresh_tokens_family_idx ON refresh_tokens (tenant_id, family_id);

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON refresh_tokens;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());

-- The gateway checks passwords: it reads a user's id, email, role and hash
-- (not the display name), and issues, rotates and revokes refresh tokens.
GRANT SELECT (tenant_id, id, email, role, password_hash) ON users TO kitchen_gateway;
GRANT SELECT, INSERT, UPDATE (used_at, revoked_at) ON refresh_tokens TO kitchen_gateway;
-- No other role touches refresh tokens: deleting a user (the worker may)
-- deletes its tokens through the foreign key's cascade.
