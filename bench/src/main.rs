//! kitchen-bench: throughput and latency of every path, each beside its raw
//! limit measured in the same run (issue 5; results in BENCHMARKS.md).
//!
//!   scripts/bench            # full run (release build, own Temporal dev server)
//!   scripts/bench --smoke    # seconds-long sizes: checks the bench works
//!
//! Options (`kitchen-bench --help`): --smoke, --only 1,2,3,4,5,6,7,10,11 (rows;
//! 2 and 3 run together, and 10 and 11), --json PATH (default target/bench/results.json).
//! Needs PostgreSQL (as the tests do), a Temporal dev server at
//! KITCHEN__TEMPORAL__ADDRESS, and the service binaries next to this one.
#![forbid(unsafe_code)]
// A binary: `pub` items are the modules' interfaces to each other.
#![allow(unreachable_pub)]

mod append;
mod cpu;
mod e2e;
mod env;
mod fanout;
mod gateway_accept;
mod histogram;
mod hydration;
mod lifecycle;
mod load;
mod machine;
mod quotas;
mod raw_fanout;
mod raw_temporal;
mod report;
mod seed;
mod stack;
mod stats;
mod views;
mod ws;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kitchen_adapters::config::Settings;
use secrecy::ExposeSecret;

use crate::env::{Findings, Run};
use crate::machine::Machine;
use crate::report::Report;

/// Throughput and latency of every path of KitchenEats, each beside its raw
/// limit measured in the same run (BENCHMARKS.md).
///
/// Needs PostgreSQL, a Temporal dev server at KITCHEN__TEMPORAL__ADDRESS and the
/// service binaries next to this one; scripts/bench provides all three.
#[derive(Debug, Parser)]
#[command(name = "kitchen-bench", version)]
struct Args {
    /// Seconds-long sizes: checks that the bench works (figures are not meaningful).
    #[arg(long)]
    smoke: bool,
    /// The rows to run, e.g. 1,4 (rows 2 and 3 run together; 8: a quiet tenant
    /// beside a noisy one; 9: overload shedding; 10 and 11, provisioning and
    /// login, run together).
    #[arg(
        long = "only",
        value_name = "ROWS",
        value_delimiter = ',',
        value_parser = row,
        default_value = "1,2,4,5,6,7,8,9,10"
    )]
    rows: Vec<u8>,
    /// Where the JSON report goes (service logs go to `logs/` beside it).
    #[arg(long, value_name = "PATH", default_value = "target/bench/results.json")]
    json: PathBuf,
    /// Internal: be row 5's raw fan-out server (the bench starts itself so).
    #[arg(
        long = raw_fanout::FLAG.trim_start_matches("--"),
        hide = true,
        num_args = 2,
        value_names = ["DATABASE_URL", "FRAME_BYTES"],
        exclusive = true
    )]
    raw_fanout_server: Option<Vec<String>>,
}

/// A row number; rows 2 and 3 are one measurement, run as 2.
fn row(text: &str) -> Result<u8, String> {
    match text.trim() {
        "1" => Ok(1),
        "2" | "3" => Ok(2),
        "4" => Ok(4),
        "5" => Ok(5),
        "6" => Ok(6),
        "7" => Ok(7),
        "8" => Ok(8),
        "9" => Ok(9),
        "10" | "11" => Ok(10),
        other => Err(format!("unknown row {other:?} (rows are 1 to 11)")),
    }
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

async fn postgres_version(settings: &Settings) -> anyhow::Result<String> {
    let mut conn = AsyncPgConnection::establish(settings.database.admin_url().expose_secret())
        .await
        .context("connecting to PostgreSQL as the admin (is it running? see README)")?;
    let v: Version = diesel::sql_query("SELECT split_part(version(), ' on ', 1) AS version")
        .get_result(&mut conn)
        .await?;
    Ok(v.version)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(server) = args.raw_fanout_server {
        // A child of the bench: the raw fan-out server of row 5.
        let bytes = server[1].parse().context("FRAME_BYTES must be a number")?;
        return raw_fanout::serve(&server[0], bytes).await;
    }
    args.rows.dedup();
    let settings = Settings::load().context("loading settings")?;
    let machine = Machine::describe(postgres_version(&settings).await?);
    let log_dir = args
        .json
        .parent()
        .map(|p| p.join("logs"))
        .unwrap_or_else(|| "logs".into());
    let run = Run {
        smoke: args.smoke,
        log_dir,
    };
    println!(
        "kitchen-bench ({} mode) on {}",
        if run.smoke { "smoke" } else { "full" },
        machine.line()
    );
    println!(
        "Temporal at {}; service logs in {}",
        settings.temporal.address,
        run.log_dir.display()
    );
    let started_at = chrono::Utc::now();
    let clock = Instant::now();
    let mut findings = Findings::default();
    for row in &args.rows {
        let phase = Instant::now();
        let name = match row {
            1 => "row 1: gateway accept",
            2 => "rows 2-3: end-to-end latency and sustained throughput",
            4 => "row 4: event appends",
            5 => "row 5: fan-out",
            6 => "row 6: hydration",
            7 => "row 7: read models",
            8 => "row 8: a quiet tenant beside a noisy one",
            9 => "row 9: overload shedding",
            _ => "rows 10-11: provisioning and login",
        };
        println!("== {name}");
        let result = match row {
            1 => gateway_accept::run(&run, &mut findings).await,
            2 => e2e::run(&run, &mut findings).await,
            4 => append::run(&run, &mut findings).await,
            5 => fanout::run(&run, &mut findings).await,
            6 => hydration::run(&run, &mut findings).await,
            7 => views::run(&run, &mut findings).await,
            8 => quotas::noisy_neighbour(&run, &mut findings).await,
            9 => quotas::overload(&run, &mut findings).await,
            _ => lifecycle::run(&run, &mut findings).await,
        };
        result.with_context(|| format!("{name} failed"))?;
        println!("   ({:.1} s)", phase.elapsed().as_secs_f64());
    }
    let report = Report {
        mode: if run.smoke { "smoke" } else { "full" },
        machine,
        started_at: started_at.to_rfc3339(),
        took_secs: clock.elapsed().as_secs_f64(),
        rows: findings.rows,
        notes: findings.notes,
    };
    println!("\n{}", report.markdown());
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)?;
    println!("JSON: {}", args.json.display());
    let missed = report.rows.iter().filter(|r| r.met == Some(false)).count();
    println!(
        "{missed} target(s) missed of {}",
        report.rows.iter().filter(|r| r.met.is_some()).count()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let mut args =
            Args::try_parse_from(std::iter::once("kitchen-bench").chain(args.iter().copied()))?;
        args.rows.dedup();
        Ok(args)
    }

    #[test]
    fn arguments() {
        Args::command().debug_assert();
        let a = parse(&[]).unwrap();
        assert_eq!(
            (a.smoke, a.rows.as_slice()),
            (false, &[1, 2, 4, 5, 6, 7, 8, 9, 10][..])
        );
        let a = parse(&["--smoke", "--only", "2,3", "--json", "x.json"]).unwrap();
        assert_eq!(
            (a.smoke, a.rows.as_slice(), a.json),
            (true, &[2][..], PathBuf::from("x.json"))
        );
        assert_eq!(parse(&["--only", "10,11"]).unwrap().rows, [10]);
        assert!(parse(&["--only", "12"])
            .unwrap_err()
            .to_string()
            .contains("unknown row"));
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--only"]).is_err());
        let server = parse(&[raw_fanout::FLAG, "postgres://x", "512"]).unwrap();
        assert_eq!(server.raw_fanout_server.unwrap(), ["postgres://x", "512"]);
        assert_eq!(
            parse(&[raw_fanout::FLAG, "postgres://x", "512", "--smoke"])
                .unwrap_err()
                .kind(),
            ErrorKind::ArgumentConflict
        );
    }
}
