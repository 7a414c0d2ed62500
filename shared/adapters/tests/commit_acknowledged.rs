//! A command is acknowledged only once its row is committed.
//!
//! Found by the fault drill (scripts/drill, PostgreSQL restart): the gateway's
//! one-statement INSERT runs in an implicit transaction, and with the extended
//! protocol PostgreSQL sends the statement's rows and CommandComplete at
//! Execute, but commits only at Sync, and diesel-async's `get_result` resolved
//! at the first row without reading the rest. A server stopped in between (`pg_ctl
//! restart -m immediate`: the backend flushes what it buffered and exits) or a
//! commit that fails (a deferred constraint) left the client holding the
//! inserted row of a transaction that never committed: the gateway answered
//! 202 for a command that was not stored. A deferred constraint that refuses
//! the commit stands in for the crash here: it fails the same step.

use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use kitchen_adapters::config::DbRole;
use kitchen_adapters::postgres::{self, PgCommandQueue};
use kitchen_domain::ports::CommandQueue;
use kitchen_domain::queue::NewCommand;
use kitchen_domain::{AggregateId, CommandId, CorrelationId, TenantId};
use kitchen_test_support::TestDb;
use secrecy::ExposeSecret;
use serde_json::json;

fn command(tenant: TenantId, payload: serde_json::Value) -> NewCommand {
    NewCommand {
        id: CommandId::new_random(),
        tenant_id: tenant,
        command_type: "createOrder".into(),
        payload,
        aggregate_id: AggregateId::new_random(),
        user_id: None,
        correlation_id: CorrelationId::new_random(),
        metadata: json!({}),
    }
}

#[tokio::test]
async fn an_insert_whose_commit_fails_is_an_error_and_leaves_no_row() {
    let db = TestDb::new().await.unwrap();
    // This test database only: a deferred check that refuses, at commit, a
    // command whose payload asks for it.
    let mut owner = AsyncPgConnection::establish(db.url(DbRole::Owner).expose_secret())
        .await
        .unwrap();
    owner
        .batch_execute(
            "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
             CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON commands
               DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
               WHEN (NEW.payload ? 'refuseAtCommit') EXECUTE FUNCTION refuse_at_commit();",
        )
        .await
        .unwrap();
    let queue = PgCommandQueue::new(postgres::pool(&db.url(DbRole::Gateway), 1).unwrap());
    let tenant = TenantId::new_random();

    let refused = queue
        .enqueue(command(tenant, json!({"refuseAtCommit": true})))
        .await;
    assert!(
        refused.is_err(),
        "a command whose commit failed was acknowledged: {refused:?}"
    );
    assert_eq!(db.count_rows("commands", tenant).await, 0);

    // The same connection goes on: the next command is stored and acknowledged.
    queue
        .enqueue(command(tenant, json!({"orderId": "o"})))
        .await
        .unwrap();
    assert_eq!(db.count_rows("commands", tenant).await, 1);
}
