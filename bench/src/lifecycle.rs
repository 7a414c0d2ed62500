//! Rows 10 and 11: the tenant lifecycle's front door (issue 12).
//!
//! Row 10: provisioning, `POST /v1/tenants` -> the tenant reads `active`, one
//! household at a time, beside a trivial workflow with as many regular
//! activities as the saga has steps, on the same dev server.
//!
//! Row 11: login, `POST /v1/auth/token` requests/s from closed-loop clients at
//! the configured argon2 cost, beside argon2id verifications/s of the same
//! hash on as many threads as the machine has cores (the bound: a login is one
//! verification); and the median time of a wrong password beside that of an
//! unknown user (the same work: a dummy hash).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kitchen_adapters::auth::mint_platform_token;
use kitchen_adapters::auth::password::{PasswordCost, Passwords};
use kitchen_domain::TenantId;
use kitchen_test_support::platform_api;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::env::{Findings, Phase, Run};
use crate::load::{check, closed_loop, one_at_a_time, Op};
use crate::raw_temporal::{Raw, SAGA_STEPS};
use crate::report::Row;
use crate::stack::Service;
use crate::stats::Percentiles;

/// How often the provisioning clock looks at the tenant (the figure's resolution).
const POLL: Duration = Duration::from_millis(5);
const ADMIN_PASSWORD: &str = "a long enough bench password";

fn household(id: Uuid, i: u64) -> Value {
    json!({
        "id": id,
        "name": format!("Bench household {i}"),
        "plan": "family",
        "admin": {"email": format!("admin{i}@bench.example"), "displayName": "Bench", "password": ADMIN_PASSWORD}
    })
}

/// A client of the platform API with a platform token.
#[derive(Clone)]
struct Platform {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Platform {
    fn new(phase: &Phase, gateway: &Service) -> anyhow::Result<Platform> {
        let token =
            mint_platform_token(&phase.settings.auth, "bench@ops", Duration::from_secs(3600))
                .context("minting a platform token")?;
        Ok(Platform {
            http: reqwest::Client::new(),
            base: gateway.http_base(),
            token,
        })
    }

    /// POSTs household `i` and waits until it reads `active`: the time it took.
    async fn provision(&self, i: u64) -> anyhow::Result<(TenantId, Duration)> {
        let started = Instant::now();
        let tenant = platform_api::provision(
            &self.http,
            &self.base,
            &self.token,
            &household(Uuid::new_v4(), i),
            POLL,
            Duration::from_secs(60),
        )
        .await?;
        Ok((tenant, started.elapsed()))
    }
}

pub async fn run(run: &Run, out: &mut Findings) -> anyhow::Result<()> {
    let phase = Phase::new().await?;
    // Row 11 logs in wrongly thousands of times from one address: lift the
    // per-address and per-account failure limits, which would answer 429.
    let limits = [
        (
            "KITCHEN__LOGIN__MAX_FAILURES_PER_ACCOUNT",
            "1000000000".to_owned(),
        ),
        (
            "KITCHEN__LOGIN__MAX_FAILURES_PER_ADDRESS",
            "1000000000".to_owned(),
        ),
    ];
    let gateway =
        Service::start_with("command-gateway", &phase.settings, &run.log_dir, &limits).await?;
    let _pump = Service::start("command-pump", &phase.settings, &run.log_dir).await?;
    let _worker = Service::start("worker", &phase.settings, &run.log_dir).await?;
    let platform = Platform::new(&phase, &gateway)?;
    let tenant = provisioning(run, out, &phase, &platform).await?;
    login(run, out, &phase, &gateway, tenant).await
}

/// Row 10; returns one provisioned tenant (its admin has [`ADMIN_PASSWORD`]).
async fn provisioning(
    run: &Run,
    out: &mut Findings,
    phase: &Phase,
    platform: &Platform,
) -> anyhow::Result<TenantId> {
    let n = run.size(50, 3);
    let raw_baseline = Raw::start(&phase.settings.temporal).await?;
    let raw = raw_baseline.saga_op();
    check("raw saga warm-up", &one_at_a_time(&raw, 3).await)?;
    let (first, _) = platform
        .provision(0)
        .await
        .context("warm-up provisioning")?;

    let ours: Op = {
        let platform = platform.clone();
        Arc::new(move |i| {
            let platform = platform.clone();
            Box::pin(async move { Ok(platform.provision(i + 1).await?.1) })
        })
    };
    let raw_out = one_at_a_time(&raw, n).await;
    check("raw saga", &raw_out)?;
    let ours_out = one_at_a_time(&ours, n).await;
    check("provisioning", &ours_out)?;
    let (Some(o), Some(r)) = (ours_out.latency, raw_out.latency) else {
        bail!("no samples");
    };
    for (name, ours_ms, raw_ms) in [("p50", o.p50_ms, r.p50_ms), ("p99", o.p99_ms, r.p99_ms)] {
        out.row(
            Row::new(
                "10",
                format!("provisioning POST -> active, {n} households one at a time: {name}"),
                "ms",
                ours_ms,
            )
            .raw(
                raw_ms,
                format!("trivial workflow of {SAGA_STEPS} regular activities"),
            ),
        );
    }
    out.note(format!(
        "row 10: ours includes the admin password's argon2id hash in the gateway, the pump hop, five \
         transactions of the saga (tenant + sequence row, admin user, menu events through the event \
         store, activation, progress) and polling GET /v1/tenants/{{id}} every {} ms",
        POLL.as_millis()
    ));
    Ok(first)
}

/// Row 11.
async fn login(
    run: &Run,
    out: &mut Findings,
    phase: &Phase,
    gateway: &Service,
    tenant: TenantId,
) -> anyhow::Result<()> {
    let clients = 4;
    let duration = run.secs(5.0, 1.0);
    let warmup = run.secs(1.0, 0.2);
    let http = reqwest::Client::new();
    let url = format!("{}/v1/auth/token", gateway.http_base());
    let attempt = |email: &'static str, password: &'static str, expect: u16| -> Op {
        let (http, url) = (http.clone(), url.clone());
        Arc::new(move |_| {
            let (http, url) = (http.clone(), url.clone());
            Box::pin(async move {
                let body = json!({"tenantId": tenant, "email": email, "password": password});
                let started = Instant::now();
                let response = http.post(&url).json(&body).send().await?;
                let elapsed = started.elapsed();
                if response.status().as_u16() != expect {
                    bail!("login answered {} (expected {expect})", response.status());
                }
                Ok(elapsed)
            })
        })
    };
    let right = attempt("admin0@bench.example", ADMIN_PASSWORD, 200);
    let wrong = attempt("admin0@bench.example", "not the password", 401);
    let unknown = attempt("nobody@bench.example", "not the password", 401);
    check("login warm-up", &one_at_a_time(&right, 3).await)?;
    let logins = closed_loop(&right, clients, warmup, duration).await;
    check("logins", &logins)?;

    // The bound: argon2id verifications of the admin's hash at the configured
    // cost, on as many threads as there are cores.
    let cost = PasswordCost {
        memory_kib: phase.settings.login.argon2_memory_kib,
        iterations: phase.settings.login.argon2_iterations,
        parallelism: phase.settings.login.argon2_parallelism,
    };
    let raw_rate = verifications_per_sec(cost, duration).await?;
    out.row(
        Row::new(
            "11",
            format!(
                "logins/s, {clients} clients, argon2id m={} KiB t={} p={}",
                cost.memory_kib, cost.iterations, cost.parallelism
            ),
            "req/s",
            logins.per_sec(),
        )
        .raw(
            raw_rate,
            "argon2id verifications/s of the same hash, one thread per core",
        ),
    );

    // Alternate wrong-password and unknown-user attempts, one at a time.
    let n = run.size(100, 4);
    let (mut wrong_ms, mut unknown_ms) = (Vec::new(), Vec::new());
    for i in 0..n {
        wrong_ms.push(wrong(i).await?);
        unknown_ms.push(unknown(i).await?);
    }
    let median = |samples: &mut Vec<Duration>| {
        Percentiles::of(samples)
            .map(|p| p.p50_ms)
            .unwrap_or(f64::NAN)
    };
    let (wrong_p50, unknown_p50) = (median(&mut wrong_ms), median(&mut unknown_ms));
    out.row(
        Row::new("11", "login, wrong password: median", "ms", wrong_p50).raw(
            unknown_p50,
            "login, unknown user: median (the same work: a dummy hash)",
        ),
    );
    out.note(format!(
        "row 11: {n} wrong-password and {n} unknown-user logins alternated one at a time; a right \
         login's p50 in the closed loop was {:.1} ms",
        logins.latency.map(|p| p.p50_ms).unwrap_or(f64::NAN)
    ));
    Ok(())
}

/// argon2id verifications per second of one hash at `cost`, one thread per core.
async fn verifications_per_sec(cost: PasswordCost, duration: Duration) -> anyhow::Result<f64> {
    let passwords = Passwords::new(cost)?;
    let phc = passwords.hash(ADMIN_PASSWORD)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (passwords, phc) = (passwords.clone(), phc.clone());
            tokio::task::spawn_blocking(move || {
                let mut done = 0u64;
                while started.elapsed() < duration {
                    assert!(passwords.verify(ADMIN_PASSWORD, &phc));
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await?;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
