//! Operator tool: `kitchen-admin setup` creates roles and the database and runs
//! the migrations; `bootstrap` and `migrate` do one half each.

use anyhow::{bail, Context};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_adapters::postgres::{bootstrap, migrate};

const USAGE: &str = "usage: kitchen-admin <setup|bootstrap|migrate|drop-database>

  setup          bootstrap, then migrate (what a fresh machine needs)
  bootstrap      as the admin user: create/update login roles, create the database
  migrate        as kitchen_owner: apply pending migrations
  drop-database  as the admin user: drop the configured database (destroys data)

Settings come from configuration/base.toml and KITCHEN__* variables (README).";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::load().context("loading settings")?;
    kitchen_adapters::telemetry::init(&settings.log);
    let db = &settings.database;
    let command = std::env::args().nth(1).unwrap_or_default();
    match command.as_str() {
        "setup" | "bootstrap" | "migrate" | "drop-database" => {}
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
