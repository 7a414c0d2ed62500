REVOKE ALL ON commands, events, aggregates, tenant_sequences, tenants, users, menu_items
    FROM kitchen_gateway, kitchen_pump, kitchen_worker, kitchen_realtime;
