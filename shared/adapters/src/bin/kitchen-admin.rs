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
    /// Read models (views).
    Views {
        #[command(subcommand)]
        command: ViewsCommand,
    },
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
