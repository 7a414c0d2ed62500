//! Operator tool: `kitchen-admin setup` creates roles and the database and runs
//! the migrations; `bootstrap` and `migrate` do one half each.

use std::time::Duration;

use anyhow::{bail, Context};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::{bootstrap, migrate};
use kitchen_domain::TenantId;

const USAGE: &str = "usage: kitchen-admin <setup|bootstrap|migrate|drop-database|dev-token>

  setup          bootstrap, then migrate (what a fresh machine needs)
  bootstrap      as the admin user: create/update login roles, create the database
  migrate        as kitchen_owner: apply pending migrations
  drop-database  as the admin user: drop the configured database (destroys data)
  dev-token [--tenant UUID] [--sub NAME] [--ttl SECONDS]
                 print an HS256 token signed with auth.hs256_secret (development only)

Settings come from configuration/base.toml and KITCHEN__* variables (README).";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let db = &settings.database;
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "setup" | "bootstrap" | "migrate" | "drop-database" => {}
        "dev-token" => return dev_token(&settings),
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    if command == "drop-database" {
        bootstrap::drop_database(db, &db.name).await?;
        println!("dropped database {}", db.name);
        return Ok(());
    }
    if command != "migrate" {
        bootstrap::bootstrap(db, &db.name).await.with_context(|| {
            format!(
                "bootstrapping database {} on {}:{}",
                db.name, db.host, db.port
            )
        })?;
        println!("roles and database {} ready", db.name);
    }
    if command != "bootstrap" {
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
fn dev_token(settings: &Settings) -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let tenant = match value("--tenant") {
        Some(t) => t.parse::<TenantId>().context("--tenant must be a UUID")?,
        None => TenantId::new_random(),
    };
    let subject = value("--sub").unwrap_or_else(|| "dev-user".into());
    let ttl: u64 = value("--ttl")
        .map(|t| t.parse())
        .transpose()
        .context("--ttl must be seconds")?
        .unwrap_or(3600);
    let token = kitchen_adapters::auth::mint_dev_token(
        &settings.auth,
        tenant,
        &subject,
        Duration::from_secs(ttl),
    )?;
    eprintln!("tenant {tenant}, subject {subject}, valid {ttl} s");
    println!("{token}");
    Ok(())
}
