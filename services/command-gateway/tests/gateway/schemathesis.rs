//! The gateway against its own OpenAPI document, by schemathesis (PyPI):
//! generated requests, valid and invalid, to every operation of
//! `docs/openapi.json`; no answer may be a 5xx or differ from the document
//! (status, content type, body schema, headers). Ignored by plain `cargo
//! test`: `scripts/contract-fuzz [EXAMPLES]` installs schemathesis in a venv
//! and runs this (`scripts/test` with a few examples per operation,
//! `scripts/fuzz` with 50).

use std::path::Path;
use std::time::Duration;

use kitchen_test_support::{tokens, TestDb};

/// The checks that say "no 5xx, every answer as documented"; the others judge
/// what a valid request should do (e.g. that any valid body is accepted),
/// which a front door that refuses inactive tenants or taken ids does not promise.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

#[tokio::test]
#[ignore = "needs schemathesis: run scripts/contract-fuzz"]
async fn schemathesis_finds_no_5xx_and_no_answer_outside_the_document() {
    let program = std::env::var("KITCHEN_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let examples = std::env::var("KITCHEN_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "50".into());
    let db = TestDb::new().await.unwrap();
    let mut settings = db.platform_settings();
    // Logins and new members hash passwords; the cheapest argon2id keeps a
    // debug build from spending the run on hashing.
    settings.login.argon2_memory_kib = 256;
    settings.login.argon2_iterations = 1;
    let base = crate::start_gateway(&settings);
    let tenant = db.active_tenant().await;
    let tenant_token = tokens::valid(&settings.auth, tenant);
    let platform_token = kitchen_adapters::auth::mint_platform_token(
        &settings.auth,
        "schemathesis",
        Duration::from_secs(3600),
    )
    .unwrap();
    let document = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");

    // The household API with a tenant token; the platform API with a platform
    // token, tenant creation left out (each would start a provisioning).
    let runs: [(&str, &str, &[&str]); 2] = [
        (
            "tenant operations",
            &tenant_token,
            &["--exclude-path-regex", "^/v1/tenants"],
        ),
        (
            "platform operations but tenant creation",
            &platform_token,
            &[
                "--include-path-regex",
                "^/v1/tenants",
                "--exclude-operation-id",
                "create",
            ],
        ),
    ];
    for (label, token, filters) in runs {
        let output = tokio::process::Command::new(&program)
            .arg("run")
            .arg(&document)
            .args(["--url", &base])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", CHECKS])
            .args(["--max-examples", &examples])
            .args(["--phases", "examples,coverage,fuzzing"])
            // One worker: hypothesis parses lambdas with `ast` from several
            // threads otherwise, which CPython 3.11 can fail on ("AST constructor
            // recursion depth mismatch"), a runtime error, not a finding.
            .args(["--workers", "1", "--seed", "15"])
            .args(["--generation-database", "none"])
            .args(["--request-timeout", "30"])
            .args(filters)
            .kill_on_drop(true)
            .output()
            .await
            .unwrap_or_else(|e| panic!("running {program}: {e} (see scripts/contract-fuzz)"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        println!("schemathesis, {label}:\n{stdout}");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "schemathesis found answers outside the document ({label}); see above"
        );
    }
}
