//! The tenant lifecycle end to end (issue 12), against real PostgreSQL and a
//! real Temporal dev server: the platform API, the pump's routing, the
//! provisioning saga (progress, failures and cancels at each step with their
//! compensation, updates), offboarding (grace, restore, export, erasure), and
//! exactly-once provisioning across a SIGKILLed worker.

mod common;

use std::time::Duration;

use common::platform::{household, tombstone_only, SAGA};
use common::Stack;
use kitchen_domain::platform::{Progress, Step};
use kitchen_domain::TenantId;
use kitchen_temporal::tenant::{provision_workflow_id, TenantProvisioning};
use kitchen_test_support::{poll, tokens};
use reqwest::Method;
use serde_json::{json, Value};

const CANARY: &str = "canary-Pa55word-7f3a9";

/// The saga's progress, as `temporal workflow query --type progress` answers.
async fn query_progress(stack: &Stack, tenant: TenantId) -> Progress {
    let client = kitchen_temporal::connect(&stack.settings.temporal, "test-query")
        .await
        .unwrap();
    client
        .get_workflow_handle::<TenantProvisioning>(provision_workflow_id(tenant))
        .query(
            TenantProvisioning::progress,
            (),
            temporalio_client::WorkflowQueryOptions::default(),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_household_is_provisioned_through_every_step_with_its_menu_on_its_log() {
    let stack = Stack::full().await;
    let request = household("The Smiths", CANARY);
    let tenant = stack.provision(request.clone()).await;

    let view = stack.wait_status(tenant, "active").await;
    assert_eq!(view["name"], "The Smiths");
    assert_eq!(view["plan"], "family");
    assert_eq!(view["provisioning"]["percent"], 100);
    let steps: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        view["provisioning"]["completed"],
        json!(steps),
        "0 -> 100 through every step"
    );
    let queried = query_progress(&stack, tenant).await;
    assert_eq!((queried.percent, queried.completed.len()), (100, 5));
    // What `temporal workflow show` prints: ids and step names, no canary,
    // no name, no email.
    let client = kitchen_temporal::connect(&stack.settings.temporal, "test-history")
        .await
        .unwrap();
    let events = client
        .get_workflow_handle::<temporalio_client::UntypedWorkflow>(provision_workflow_id(tenant))
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::builder().build())
        .into_events()
        .await
        .unwrap();
    let history = serde_json::to_string(
        &temporalio_common::protos::temporal::api::history::v1::History { events },
    )
    .unwrap();
    common::secrets::assert_no_secrets(
        "provisioning history",
        &history,
        &[CANARY.into(), "The Smiths".into(), "sam@example.com".into()],
    );

    // The menu is on the tenant's log, as Menu events (its sockets see them).
    let events = stack
        .get_json(
            &format!("{}/v1/events?after=0", stack.base),
            &tokens::valid(&stack.settings.auth, tenant),
        )
        .await;
    let types: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, vec!["MenuItemAdded"; 3], "{events}");

    // The admin logs in with the password given at provisioning, refreshes,
    // and changes the menu with the refreshed token (an admin's command).
    let login = |path: &'static str, body: Value| {
        let request = stack.http.post(format!("{}{path}", stack.base)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = login(
        "/v1/auth/token",
        json!({"tenantId": tenant, "email": "sam@example.com", "password": CANARY}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let (status, refreshed) = login(
        "/v1/auth/refresh",
        json!({"refreshToken": first["refreshToken"]}),
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["accessToken"].as_str().unwrap().to_owned();
    let sent = stack
        .http
        .post(format!("{}/v1/commands", stack.base))
        .bearer_auth(&access)
        .json(&json!({"type": "addMenuItem",
            "payload": {"menuItemId": "tea", "name": "Tea", "priceCents": 250}}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 202);
    let id = sent.json::<Value>().await.unwrap()["commandId"]
        .as_str()
        .unwrap()
        .to_owned();
    poll::until(SAGA, "the admin's command succeeds", || async {
        let command = stack
            .get_json(&format!("{}/v1/commands/{id}", stack.base), &access)
            .await;
        (command["status"] == "succeeded").then_some(())
    })
    .await;

    // One admin, hashed with argon2id; the hash kept apart is scrubbed; the
    // canary is in no row.
    let admins = stack
        .owner_texts(
            tenant,
            "SELECT password_hash AS t FROM users WHERE role = 'admin'",
        )
        .await;
    assert_eq!(admins.len(), 1);
    assert!(admins[0].starts_with("$argon2id$"), "{}", admins[0]);
    assert!(kitchen_adapters::auth::password::verify_password(
        CANARY, &admins[0]
    ));
    let rows = stack
        .owner_texts(tenant, "SELECT c::text AS t FROM commands c")
        .await;
    assert!(rows.iter().all(|r| !r.contains(CANARY)));
    assert!(stack
        .residue(tenant)
        .await
        .iter()
        .all(|(t, _)| t != "tenant_admin_secrets"));

    // The same POST again: the stored command (200), the same tenant, one saga.
    let (status, again) = stack
        .platform(Method::POST, "/v1/tenants", Some(request.clone()))
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["tenantId"], tenant.to_string());
    assert_eq!(again["status"], "succeeded");
    // ... also with another password: the password is not compared.
    let mut other_password = request.clone();
    other_password["admin"]["password"] = json!("another-password");
    let (status, _) = stack
        .platform(Method::POST, "/v1/tenants", Some(other_password))
        .await;
    assert_eq!(status, 200);
    let provisions = stack
        .owner_texts(
            tenant,
            "SELECT id::text AS t FROM commands WHERE type = 'tenant.provision'",
        )
        .await;
    assert_eq!(provisions.len(), 1, "one saga");

    // The listing shows it; cancel after completion is 409.
    let (status, page) = stack.platform(Method::GET, "/v1/tenants", None).await;
    assert_eq!(status, 200);
    assert!(page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["tenantId"] == tenant.to_string() && t["status"] == "active"));
    let (status, problem) = stack
        .platform(
            Method::POST,
            &format!("/v1/tenants/{tenant}/cancel"),
            Some(json!({"reason": "too late"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("wrong_tenant_state"))
    );

    // An update of an active tenant applies directly.
    let (status, _) = stack
        .platform(
            Method::PATCH,
            &format!("/v1/tenants/{tenant}"),
            Some(json!({"name": "The Smith-Joneses"})),
        )
        .await;
    assert_eq!(status, 202);
    poll::until(SAGA, "renamed", || async {
        let (_, view) = stack.tenant_view(tenant).await;
        (view["name"] == "The Smith-Joneses").then_some(())
    })
    .await;
}

#[tokio::test]
async fn bad_requests_and_tenant_tokens_are_refused_and_nothing_starts() {
    let stack = Stack::new(|_| {}).await;
    for (field, mut request) in [
        ("name", household("  ", "long-enough")),
        ("admin.email", household("Home", "long-enough")),
        ("admin.password", household("Home", "short")),
    ] {
        if field == "admin.email" {
            request["admin"]["email"] = json!("not-an-email");
        }
        let (status, problem) = stack
            .platform(Method::POST, "/v1/tenants", Some(request))
            .await;
        assert_eq!(status, 400, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    // Nothing written: no household but the stack's own (an active test tenant).
    let (status, page) = stack.platform(Method::GET, "/v1/tenants", None).await;
    let others = page["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["tenantId"] != stack.tenant.to_string())
        .count();
    assert_eq!((status, others), (200, 0), "nothing written: {page}");

    // A tenant token (tenant audience) is 403 on every platform route; no
    // token or a bad one is 401.
    let tenant_token = stack.token();
    let some = TenantId::new_random();
    for (method, path) in [
        (Method::POST, "/v1/tenants".to_owned()),
        (Method::GET, "/v1/tenants".to_owned()),
        (Method::GET, format!("/v1/tenants/{some}")),
        (Method::PATCH, format!("/v1/tenants/{some}")),
        (Method::DELETE, format!("/v1/tenants/{some}")),
        (Method::POST, format!("/v1/tenants/{some}/cancel")),
        (Method::POST, format!("/v1/tenants/{some}/restore")),
        (Method::GET, format!("/v1/tenants/{some}/export")),
    ] {
        let (status, problem) = stack
            .platform_as(&tenant_token, method.clone(), &path, Some(json!({})))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}"
        );
        let (status, _) = stack
            .platform_as("not-a-token", method.clone(), &path, None)
            .await;
        assert_eq!(status, 401, "{method} {path}");
    }
    // And a platform token is no tenant token.
    let response = stack
        .http
        .get(format!("{}/v1/snapshot", stack.base))
        .bearer_auth(stack.platform_token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn a_failure_at_each_step_leaves_only_the_tombstone_and_the_command_rows() {
    let stack = Stack::full().await;
    for step in Step::ALL {
        let mut request = household("Doomed", CANARY);
        let tenant = TenantId::new_random();
        request["tenantId"] = json!(tenant);
        kitchen_temporal::faults::fail_at(tenant, step);
        stack.provision(request).await;
        let view = stack.wait_tombstone(tenant, "failed").await;
        assert_eq!(view["step"], step.name(), "{view}");
        assert!(
            view["reason"].as_str().unwrap().contains("injected fault"),
            "{view}"
        );
        assert_eq!(view["provisioning"]["error"]["step"], step.name());
        assert_eq!(view["name"], "erased", "no personal data on the tombstone");
        let residue = stack.residue(tenant).await;
        assert!(tombstone_only(&residue), "{step:?}: {residue:?}");
        // The provisioning command ends failed, its payload (name, email) erased.
        poll::until(SAGA, "provisioning command failed", || async {
            let command = stack
                .owner_texts(
                    tenant,
                    "SELECT status || ' ' || payload::text AS t FROM commands",
                )
                .await;
            (command == vec![r#"failed {"erased": true}"#.to_owned()]).then_some(())
        })
        .await;
    }
}

#[tokio::test]
async fn a_cancel_at_each_step_compensates_and_an_update_midway_renames() {
    let stack = Stack::full().await;
    for step in Step::ALL {
        let mut request = household("Cancelled", "long-enough");
        let tenant = TenantId::new_random();
        request["tenantId"] = json!(tenant);
        kitchen_temporal::faults::hold_at(tenant, step);
        stack.provision(request).await;
        poll::until(SAGA, "step held", || async {
            kitchen_temporal::faults::holding(tenant).filter(|s| *s == step)
        })
        .await;
        let (status, accepted) = stack
            .platform(
                Method::POST,
                &format!("/v1/tenants/{tenant}/cancel"),
                Some(json!({"reason": "changed my mind"})),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        let cancel: uuid::Uuid = accepted["commandId"].as_str().unwrap().parse().unwrap();
        // The signal is delivered while the step runs; it takes effect after it.
        stack.wait_routed(tenant, cancel).await;
        kitchen_temporal::faults::release(tenant);
        // The cancel takes effect before the next step (steps are activities
        // recorded in the history, so the signal lands between two of them).
        let next = Step::ALL.get(step.index() + 1).copied();
        let view = poll::until(SAGA, "saga over", || async {
            let (_, view) = stack.tenant_view(tenant).await;
            let over = view["status"] == "active"
                || (view["status"] == "cancelled" && view["provisioning"]["error"].is_object());
            over.then_some(view)
        })
        .await;
        if view["status"] == "active" {
            // Cancelled during the last step: too late, the tenant is active.
            assert_eq!(step, Step::Activate, "{view}");
            let status = poll::until(SAGA, "cancel final", || async {
                let s = stack
                    .owner_texts(tenant, &format!("SELECT status || ' ' || coalesce(error->>'code', '') AS t FROM commands WHERE id = '{cancel}'"))
                    .await;
                s.into_iter().find(|s| !s.starts_with("dispatched"))
            })
            .await;
            assert_eq!(status, "rejected tenant_already_active");
            continue;
        }
        let at = view["step"].as_str().unwrap();
        assert_eq!(Some(at), next.map(|s| s.name()), "{view}");
        assert_eq!(view["reason"], "changed my mind");
        assert_eq!(view["provisioning"]["error"]["step"], at);
        let residue = stack.residue(tenant).await;
        assert!(tombstone_only(&residue), "{step:?}: {residue:?}");
        poll::until(SAGA, "cancel command succeeded", || async {
            (stack.command_status(tenant, cancel).await == "succeeded").then_some(())
        })
        .await;
    }

    // Update mid-way: renamed before the next step; the tenant ends active
    // under the new name.
    let mut request = household("Old name", "long-enough");
    let tenant = TenantId::new_random();
    request["tenantId"] = json!(tenant);
    kitchen_temporal::faults::hold_at(tenant, Step::CreateAdmin);
    stack.provision(request).await;
    poll::until(SAGA, "held", || async {
        kitchen_temporal::faults::holding(tenant)
    })
    .await;
    let (status, accepted) = stack
        .platform(
            Method::PATCH,
            &format!("/v1/tenants/{tenant}"),
            Some(json!({"name": "New name", "plan": "premium"})),
        )
        .await;
    assert_eq!(status, 202);
    let update = accepted["commandId"].as_str().unwrap().parse().unwrap();
    stack.wait_routed(tenant, update).await;
    kitchen_temporal::faults::release(tenant);
    let view = stack.wait_status(tenant, "active").await;
    assert_eq!(
        (view["name"].as_str(), view["plan"].as_str()),
        (Some("New name"), Some("premium"))
    );
}

#[tokio::test]
async fn offboarding_exports_waits_can_be_restored_and_erases_only_that_tenant() {
    let stack = Stack::new(|s| s.platform.offboard_grace_secs = 3).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let mut stack = stack;
    stack.start_pump().await;
    stack.start_worker().await;
    let keep = stack
        .provision(household("Neighbours", "long-enough"))
        .await;
    let leave = stack.provision(household("Leavers", "long-enough")).await;
    stack.wait_status(keep, "active").await;
    stack.wait_status(leave, "active").await;
    let keep_before = stack.residue(keep).await;

    // Offboard, then restore within the grace period.
    let (status, _) = stack
        .platform(Method::DELETE, &format!("/v1/tenants/{leave}"), None)
        .await;
    assert_eq!(status, 202);
    stack.wait_status(leave, "disabled").await;
    let (status, _) = stack
        .platform(Method::DELETE, &format!("/v1/tenants/{leave}"), None)
        .await;
    assert_eq!(status, 409, "already offboarding");
    let (status, _) = stack
        .platform(Method::POST, &format!("/v1/tenants/{leave}/restore"), None)
        .await;
    assert_eq!(status, 202);
    stack.wait_status(leave, "active").await;
    let (status, _) = stack
        .platform(Method::POST, &format!("/v1/tenants/{leave}/restore"), None)
        .await;
    assert_eq!(status, 409, "not disabled");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        stack.tenant_view(leave).await.1["status"],
        "active",
        "the grace timer was cancelled"
    );

    // Offboard for good: the export is downloadable until the erasure.
    let (status, _) = stack
        .platform(Method::DELETE, &format!("/v1/tenants/{leave}"), None)
        .await;
    assert_eq!(status, 202);
    let export = poll::until(SAGA, "export", || async {
        let (status, body) = stack
            .platform(Method::GET, &format!("/v1/tenants/{leave}/export"), None)
            .await;
        (status == 200).then_some(body)
    })
    .await;
    let export = export.as_str().unwrap().to_owned();
    let lines: Vec<Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "event").count(),
        3,
        "{kinds:?}"
    );
    assert!(kinds.contains(&"aggregate") && kinds.contains(&"tenant") && kinds.contains(&"user"));
    assert!(!export.contains("argon2"), "no password hash in the export");

    let view = stack.wait_status(leave, "erased").await;
    assert_eq!(view["name"], "erased");
    let residue = stack.residue(leave).await;
    assert!(tombstone_only(&residue), "{residue:?}");
    let (status, _) = stack
        .platform(Method::GET, &format!("/v1/tenants/{leave}/export"), None)
        .await;
    assert_eq!(status, 404, "the export went with the erasure");
    assert_eq!(
        stack.residue(keep).await,
        keep_before,
        "the other tenant is untouched"
    );
    assert_eq!(stack.tenant_view(keep).await.1["status"], "active");
}

#[tokio::test]
async fn a_worker_killed_mid_saga_is_replaced_and_the_tenant_is_provisioned_once() {
    let mut stack = Stack::new(|_| {}).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    stack.start_pump().await;
    // Each step of the child worker takes 0.8 s (test-faults), so it dies mid-saga.
    stack.spawn_worker_process_with(&[("KITCHEN_TEST_STEP_DELAY_MS", "800")]);
    let tenant = stack.provision(household("Resilient", "long-enough")).await;
    poll::until(SAGA, "mid-saga", || async {
        let (_, view) = stack.tenant_view(tenant).await;
        (view["provisioning"]["percent"].as_u64().unwrap_or(0) >= 40).then_some(())
    })
    .await;
    stack.kill_worker_processes().await;
    stack.start_worker().await;
    stack.wait_status(tenant, "active").await;
    assert_eq!(
        stack
            .owner_texts(tenant, "SELECT count(*)::text AS t FROM users")
            .await,
        vec!["1".to_owned()]
    );
    assert_eq!(
        stack
            .owner_texts(tenant, "SELECT count(*)::text AS t FROM events")
            .await,
        vec!["3".to_owned()],
        "one set of menu events"
    );
    assert_eq!(
        stack
            .owner_texts(tenant, "SELECT count(*)::text AS t FROM tenants")
            .await,
        vec!["1".to_owned()]
    );
}

/// The `kitchen-admin` binary built beside this test (cargo builds every
/// binary of the workspace for `cargo test --workspace`).
fn kitchen_admin() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("kitchen-admin");
    assert!(
        path.exists(),
        "{} is missing: cargo build -p kitchen-adapters --bin kitchen-admin",
        path.display()
    );
    path
}

/// Runs `kitchen-admin tenant ARGS` against the stack's gateway with its
/// platform token; exit code, stdout, stderr.
async fn admin(stack: &Stack, args: &[&str], password: Option<&str>) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(kitchen_admin());
    command
        .arg("tenant")
        .args(["--gateway", &stack.base])
        .args(args)
        .env("KITCHEN_PLATFORM_TOKEN", stack.platform_token())
        .env_remove("KITCHEN_TENANT_ADMIN_PASSWORD");
    if let Some(password) = password {
        command.env("KITCHEN_TENANT_ADMIN_PASSWORD", password);
    }
    let out = command.output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn kitchen_admin_creates_lists_shows_offboards_restores_and_cancels_through_the_api() {
    let stack = Stack::new(|s| s.platform.offboard_grace_secs = 600).await;
    kitchen_test_support::temporal::require_shared(&stack.settings.temporal.address).await;
    let mut stack = stack;
    stack.start_pump().await;
    stack.start_worker().await;

    // Bad arguments: exit 2 with usage, nothing sent.
    let (code, _, err) = admin(&stack, &["show", "not-a-uuid"], None).await;
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = admin(
        &stack,
        &["create", "--name", "No Password", "--email", "a@b.example"],
        None,
    )
    .await;
    assert_eq!(code, 2, "the password is required: {err}");
    assert!(err.contains("--password"), "{err}");
    // Refused by the API: the gateway's problem, exit 1.
    let (code, _, err) = admin(
        &stack,
        &["create", "--name", "Bad Email", "--email", "not-an-email"],
        Some("long-enough"),
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("400") && err.contains("email"), "{err}");

    // create --wait: the saga ran; the password came from the environment.
    let tenant = TenantId::new_random();
    let (code, out, err) = admin(
        &stack,
        &[
            "create",
            "--name",
            "Admins",
            "--email",
            "ada@example.com",
            "--tenant",
            &tenant.to_string(),
            "--wait",
        ],
        Some("long-enough"),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let view = json_of(&out);
    assert_eq!(
        (view["status"].as_str(), view["tenantId"].as_str()),
        (Some("active"), Some(tenant.to_string().as_str())),
        "{view}"
    );
    assert!(!out.contains("long-enough") && !err.contains("long-enough"));

    let (code, out, err) = admin(&stack, &["list", "--limit", "10"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        json_of(&out).to_string().contains(&tenant.to_string()),
        "{out}"
    );
    let (code, out, _) = admin(&stack, &["show", &tenant.to_string()], None).await;
    assert_eq!((code, json_of(&out)["name"].as_str()), (0, Some("Admins")));

    // A finished saga cannot be cancelled: 409, exit 1.
    let (code, _, err) = admin(&stack, &["cancel", &tenant.to_string()], None).await;
    assert_eq!(code, 1);
    assert!(err.contains("409"), "{err}");

    // Offboard, then restore within the grace period.
    let (code, _, err) = admin(&stack, &["delete", &tenant.to_string()], None).await;
    assert_eq!(code, 0, "{err}");
    stack.wait_status(tenant, "disabled").await;
    let (code, _, err) = admin(&stack, &["restore", &tenant.to_string()], None).await;
    assert_eq!(code, 0, "{err}");
    stack.wait_status(tenant, "active").await;

    // An unknown tenant: 404, exit 1.
    let (code, _, err) = admin(&stack, &["show", &TenantId::new_random().to_string()], None).await;
    assert_eq!(code, 1);
    assert!(err.contains("404"), "{err}");
}
