//! Diesel table definitions, written by hand to match `migrations/`.

diesel::table! {
    commands (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        #[sql_name = "type"]
        command_type -> Text,
        payload -> Jsonb,
        status -> Text,
        aggregate_id -> Uuid,
        user_id -> Nullable<Text>,
        correlation_id -> Uuid,
        metadata -> Jsonb,
        error -> Nullable<Jsonb>,
        result_seqs -> Array<Int8>,
        workflow_id -> Nullable<Text>,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        claimed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    events (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        aggregate_type -> Text,
        aggregate_id -> Uuid,
        version -> Int8,
        seq -> Int8,
        #[sql_name = "type"]
        event_type -> Text,
        schema_version -> Int4,
        payload -> Jsonb,
        causation_id -> Uuid,
        correlation_id -> Uuid,
        metadata -> Jsonb,
        created_at -> Timestamptz,
        position -> Int8,
    }
}

diesel::table! {
    aggregates (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        #[sql_name = "type"]
        aggregate_type -> Text,
        snapshot -> Jsonb,
        version -> Int8,
        seq -> Int8,
        updated_at -> Timestamptz,
        schema_version -> Int4,
    }
}

diesel::table! {
    tenant_sequences (tenant_id) {
        tenant_id -> Uuid,
        last_seq -> Int8,
        updated_at -> Timestamptz,
        epoch -> Uuid,
    }
}

diesel::table! {
    tenants (tenant_id) {
        tenant_id -> Uuid,
        name -> Text,
        status -> Text,
        preferences -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        password_hash -> Nullable<Text>,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    menu_items (tenant_id, id) {
        tenant_id -> Uuid,
        id -> Text,
        name -> Text,
        price_cents -> Int4,
        available -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    view_heads (tenant_id, projection, generation) {
        tenant_id -> Uuid,
        projection -> Text,
        generation -> Int4,
        version -> Int4,
        state -> Text,
        seq -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    view_rows (tenant_id, projection, generation, key) {
        tenant_id -> Uuid,
        projection -> Text,
        generation -> Int4,
        key -> Text,
        doc -> Jsonb,
        seq -> Int8,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    commands,
    events,
    aggregates,
    tenant_sequences,
    tenants,
    users,
    menu_items,
    view_heads,
    view_rows
);
