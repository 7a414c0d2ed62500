-- Households. `tenant_id` is the key, so the same policy as every table applies.
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id   uuid        NOT NULL,
    name        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'active',
    preferences jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenants_name_check CHECK (length(name) BETWEEN 1 AND 200),
    CONSTRAINT tenants_status_check CHECK (status IN ('provisioning', 'active', 'disabled'))
);

-- People of a household, including its admin (password stored hashed only).
CREATE TABLE IF NOT EXISTS users (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL,
    email         text        NOT NULL,
    display_name  text        NOT NULL,
    password_hash text,
    role          text        NOT NULL DEFAULT 'member',
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'member'))
);

-- A household's menu (initial data written by provisioning).
CREATE TABLE IF NOT EXISTS menu_items (
    tenant_id   uuid        NOT NULL,
    id          text        NOT NULL,
    name        text        NOT NULL,
    price_cents integer     NOT NULL DEFAULT 0,
    available   boolean     NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT menu_items_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT menu_items_price_check CHECK (price_cents >= 0)
);

-- Commands as accepted by the gateway. `id` is the client's idempotency key,
-- unique per tenant (a global key would let one tenant probe another's ids).
CREATE TABLE IF NOT EXISTS commands (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    type            text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    aggregate_id    uuid        NOT NULL,
    user_id         text,
    correlation_id  uuid        NOT NULL,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error           jsonb,
    result_seqs     bigint[]    NOT NULL DEFAULT '{}',
    workflow_id     text,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commands_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT commands_type_check CHECK (length(type) BETWEEN 1 AND 100),
    CONSTRAINT commands_status_check
        CHECK (status IN ('pending', 'claimed', 'dispatched', 'succeeded', 'rejected', 'failed')),
    CONSTRAINT commands_attempts_check CHECK (attempts >= 0)
);
-- The pump's work list: only unfinished dispatch work is indexed.
CREATE INDEX IF NOT EXISTS commands_dispatch_idx
    ON commands (next_attempt_at) WHERE status IN ('pending', 'claimed');

-- The tenant's log head. Bumping this row in the append transaction serialises
-- appends per tenant, which is what makes `seq` gapless and commit-ordered.
CREATE TABLE IF NOT EXISTS tenant_sequences (
    tenant_id  uuid        NOT NULL,
    last_seq   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_sequences_pkey PRIMARY KEY (tenant_id),
    CONSTRAINT tenant_sequences_last_seq_check CHECK (last_seq >= 0)
);

-- The event log: append-only (no role may UPDATE or DELETE it).
CREATE TABLE IF NOT EXISTS events (
    tenant_id      uuid        NOT NULL,
    id             uuid        NOT NULL,
    aggregate_type text        NOT NULL,
    aggregate_id   uuid        NOT NULL,
    version        bigint      NOT NULL,
    seq            bigint      NOT NULL,
    type           text        NOT NULL,
    schema_version integer     NOT NULL DEFAULT 1,
    payload        jsonb       NOT NULL,
    causation_id   uuid        NOT NULL,
    correlation_id uuid        NOT NULL,
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- Global insertion order, for operators only: unlike `seq` it is not
    -- commit-ordered and must not be used to page.
    position       bigint      GENERATED ALWAYS AS IDENTITY,
    CONSTRAINT events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT events_stream_version_key UNIQUE (tenant_id, aggregate_id, version),
    CONSTRAINT events_tenant_seq_key UNIQUE (tenant_id, seq),
    CONSTRAINT events_version_check CHECK (version >= 1),
    CONSTRAINT events_seq_check CHECK (seq >= 1)
);
CREATE INDEX IF NOT EXISTS events_causation_idx ON events (tenant_id, causation_id);

-- Latest state per aggregate, written in the same transaction as its events.
CREATE TABLE IF NOT EXISTS aggregates (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL,
    type       text        NOT NULL,
    snapshot   jsonb       NOT NULL,
    version    bigint      NOT NULL,
    seq        bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT aggregates_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT aggregates_version_check CHECK (version >= 1)
);
