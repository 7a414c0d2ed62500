//! Operator tool: `kitchen-admin setup` creates roles and the database and runs
//! the migrations; `bootstrap` and `migrate` do one half each; `views rebuild`
//! rebuilds a read model without downtime.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::{bootstrap, migrate};
use kitchen_domain::TenantId;

/// KitchenEats operator tool.
///
/// Settings come from configuration/base.toml and KITCHEN__* variables (README).
#[derive(Debug, Parser)]
#[command(name = "kitchen-admin", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Bootstrap, then migrate (what a fresh machine needs).
    Setup,
    /// As the admin user: create/update login roles, create the database.
    Bootstrap,
    /// As kitchen_owner: apply pending migrations.
    Migrate,
    /// As the admin user: drop the configured database (destroys data).
    DropDatabase,
    /// Print an HS256 token signed with auth.hs256_secret (development only).
    DevToken {
        /// The token's tenant_id (default: a new random tenant).
        #[arg(long, value_name = "UUID")]
        tenant: Option<TenantId>,
        /// The token's sub: the user recorded on its commands.
        #[arg(long = "sub", value_name = "NAME", default_value = "dev-user")]
        subject: String,
        /// How long the token is valid, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        ttl: u64,
    },
    /// Print a platform token (role platform_admin, audience
    /// auth.platform_audience), HS256 with auth.hs256_secret (development only).
    PlatformToken {
        /// The token's sub: the operator recorded on platform commands.
        #[arg(long = "sub", value_name = "NAME", default_value = "platform-admin")]
        subject: String,
        /// How long the token is valid, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
        ttl: u64,
    },
    /// Tenants through the platform API (/v1/tenants) of a running gateway.
    Tenant {
        /// The gateway (default: http://127.0.0.1:<gateway.port>).
        #[arg(long, value_name = "URL", global = true)]
        gateway: Option<String>,
        /// A platform token (default: one minted as `platform-token` does).
        #[arg(
            long,
            env = "KITCHEN_PLATFORM_TOKEN",
            hide_env_values = true,
            global = true
        )]
        token: Option<String>,
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Read models (views).
    Views {
        #[command(subcommand)]
        command: ViewsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TenantAction {
    /// Provision a household; with --wait, until it is active (or failed).
    Create {
        #[arg(long)]
        name: String,
        /// The admin's email (their login).
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        display_name: String,
        /// The admin's password (from the environment, so it is not in `ps`).
        #[arg(long, env = "KITCHEN_TENANT_ADMIN_PASSWORD", hide_env_values = true)]
        password: String,
        /// The tenant id (default: derived from the request's idempotency key).
        #[arg(long, value_name = "UUID")]
        tenant: Option<TenantId>,
        #[arg(long)]
        plan: Option<String>,
        /// Wait until provisioning ends and print the tenant.
        #[arg(long)]
        wait: bool,
    },
    /// List tenants (one page).
    List {
        #[arg(long, value_name = "UUID")]
        after: Option<TenantId>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a tenant and its provisioning progress.
    Show { tenant: TenantId },
    /// Cancel a tenant's provisioning.
    Cancel {
        tenant: TenantId,
        #[arg(long, default_value = "cancelled by the operator")]
        reason: String,
    },
    /// Offboard a tenant: disabled now, erased after the grace period.
    Delete { tenant: TenantId },
    /// Restore an offboarded tenant within its grace period.
    Restore { tenant: TenantId },
}

#[derive(Debug, Subcommand)]
enum ViewsCommand {
    /// Rebuild view NAME from the log beside the one being read, then switch
    /// (tenant by tenant; appends and reads go on). Resumes an interrupted run.
    Rebuild {
        /// orderBoard, kitchenQueue or menu.
        name: String,
        /// Only this tenant (default: every tenant with events).
        #[arg(long, value_name = "UUID")]
        tenant: Option<TenantId>,
        /// Events applied per transaction while building.
        #[arg(long, value_name = "EVENTS", default_value_t = 5000)]
        batch: u32,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Arguments first: `--help` and bad arguments need no settings.
    let cli = Cli::parse();
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let db = &settings.database;
    let (bootstrap_db, migrate_db) = match cli.command {
        Command::Setup => (true, true),
        Command::Bootstrap => (true, false),
        Command::Migrate => (false, true),
        Command::DropDatabase => {
            bootstrap::drop_database(db, &db.name).await?;
            println!("dropped database {}", db.name);
            return Ok(());
        }
        Command::DevToken {
            tenant,
            subject,
            ttl,
        } => return dev_token(&settings, tenant, &subject, ttl),
        Command::PlatformToken { subject, ttl } => {
            let token = kitchen_adapters::auth::mint_platform_token(
                &settings.auth,
                &subject,
                Duration::from_secs(ttl),
            )?;
            println!("{token}");
            return Ok(());
        }
        Command::Tenant {
            gateway,
            token,
            action,
        } => return tenant(&settings, gateway, token, action).await,
        Command::Views {
            command:
                ViewsCommand::Rebuild {
                    name,
                    tenant,
                    batch,
                },
        } => return rebuild_view(&settings, &name, tenant, batch).await,
    };
    if bootstrap_db {
        bootstrap::bootstrap(db, &db.name).await.with_context(|| {
            format!(
                "bootstrapping database {} on {}:{}",
                db.name, db.host, db.port
            )
        })?;
        println!("roles and database {} ready", db.name);
    }
    if migrate_db {
        let applied = migrate::run_pending(&db.role_url(DbRole::Owner))
            .await
            .context("running migrations")?;
        if applied.is_empty() {
            println!("migrations: up to date");
        } else {
            println!("migrations applied: {}", applied.join(", "));
        }
    }
    Ok(())
}

/// `dev-token`: mints a token for local use; prints only the token on stdout,
/// so `TOKEN=$(kitchen-admin dev-token --tenant ...)` works.
fn dev_token(
    settings: &Settings,
    tenant: Option<TenantId>,
    subject: &str,
    ttl: u64,
) -> anyhow::Result<()> {
    let tenant = tenant.unwrap_or_else(TenantId::new_random);
    let token = kitchen_adapters::auth::mint_dev_token(
        &settings.auth,
        tenant,
        subject,
        Duration::from_secs(ttl),
    )?;
    eprintln!("tenant {tenant}, subject {subject}, valid {ttl} s");
    println!("{token}");
    Ok(())
}

/// `tenant ...`: one request to the platform API; prints the JSON answer (or
/// the problem) and fails on an error status.
async fn tenant(
    settings: &Settings,
    gateway: Option<String>,
    token: Option<String>,
    action: TenantAction,
) -> anyhow::Result<()> {
    let base = gateway.unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.gateway.port));
    let token = match token {
        Some(token) => token,
        None => kitchen_adapters::auth::mint_platform_token(
            &settings.auth,
            "kitchen-admin",
            Duration::from_secs(600),
        )?,
    };
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.context("calling the gateway")?;
            let status = response.status();
            let text = response.text().await.context("reading the answer")?;
            if !status.is_success() {
                anyhow::bail!("{status}: {text}");
            }
            let body: serde_json::Value = serde_json::from_str(&text).unwrap_or(text.into());
            Ok::<_, anyhow::Error>(body)
        }
    };
    use reqwest::Method;
    let answer = match action {
        TenantAction::Create {
            name,
            email,
            display_name,
            password,
            tenant,
            plan,
            wait,
        } => {
            let mut body = serde_json::json!({
                "name": name,
                "admin": {"email": email, "displayName": display_name, "password": password},
            });
            if let Some(tenant) = tenant {
                body["tenantId"] = tenant.to_string().into();
            }
            if let Some(plan) = plan {
                body["plan"] = plan.into();
            }
            let accepted = call(Method::POST, "/v1/tenants".into(), Some(body)).await?;
            if !wait {
                accepted
            } else {
                let id = accepted["tenantId"].as_str().unwrap_or_default().to_owned();
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                loop {
                    let view = call(Method::GET, format!("/v1/tenants/{id}"), None).await?;
                    if view["status"] != "provisioning" {
                        break view;
                    }
                    anyhow::ensure!(
                        std::time::Instant::now() < deadline,
                        "tenant {id} still provisioning after 120 s: {view}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        TenantAction::List { after, limit } => {
            let after = after.map(|a| format!("&after={a}")).unwrap_or_default();
            call(
                Method::GET,
                format!("/v1/tenants?limit={limit}{after}"),
                None,
            )
            .await?
        }
        TenantAction::Show { tenant } => {
            call(Method::GET, format!("/v1/tenants/{tenant}"), None).await?
        }
        TenantAction::Cancel { tenant, reason } => {
            let body = serde_json::json!({ "reason": reason });
            call(
                Method::POST,
                format!("/v1/tenants/{tenant}/cancel"),
                Some(body),
            )
            .await?
        }
        TenantAction::Delete { tenant } => {
            call(Method::DELETE, format!("/v1/tenants/{tenant}"), None).await?
        }
        TenantAction::Restore { tenant } => {
            call(Method::POST, format!("/v1/tenants/{tenant}/restore"), None).await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// `views rebuild`: prints progress per batch and per switched tenant.
async fn rebuild_view(
    settings: &Settings,
    name: &str,
    tenant: Option<TenantId>,
    batch: u32,
) -> anyhow::Result<()> {
    use kitchen_adapters::postgres::views::{
        rebuild, Progress, RebuildOptions, RebuildOutcome, RebuildScope, WhenLocked,
    };
    let Some(projection) = kitchen_domain::projection::projection(name) else {
        let known: Vec<&str> = kitchen_domain::projection::PROJECTIONS
            .iter()
            .map(|p| p.name)
            .collect();
        anyhow::bail!("no view named {name:?}; views: {}", known.join(", "));
    };
    anyhow::ensure!(batch > 0, "--batch must be at least 1");
    let url = settings.database.role_url(DbRole::Worker);
    let pool = kitchen_adapters::postgres::pool(&url, 2)?;
    let scope = RebuildScope::Forced { projection, tenant };
    let print = |p: Progress| {
        match p {
        Progress::Started { views } => println!("{name}: {views} tenant view(s) to rebuild"),
        Progress::Batch {
            tenant, seq, head, ..
        } => println!("  tenant {tenant}: built to seq {seq} of {head}"),
        Progress::Switched(v) => println!(
            "  tenant {}: generation {} active ({} events built, {} caught up under the lock in {} ms{})",
            v.tenant,
            v.generation,
            v.built_events,
            v.caught_up_events,
            v.lock_held.as_millis(),
            if v.resumed { ", resumed" } else { "" }
        ),
    }
    };
    let mut options = RebuildOptions {
        batch,
        when_locked: WhenLocked::Skip,
    };
    let mut outcome = rebuild(&url, &pool, scope.clone(), options, print).await?;
    if outcome == RebuildOutcome::AnotherRunnerHoldsTheLock {
        println!("another rebuild is running; waiting for it to finish");
        options.when_locked = WhenLocked::Wait;
        outcome = rebuild(&url, &pool, scope, options, print).await?;
    }
    if let RebuildOutcome::Ran(views) = outcome {
        println!("{name}: {} tenant view(s) rebuilt", views.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
