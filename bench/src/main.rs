//! kitchen-bench: throughput and latency of every path, each beside its raw
//! limit measured in the same run (issue 5; results in BENCHMARKS.md).
//!
//!   scripts/bench            # full run (release build, own Temporal dev server)
//!   scripts/bench --smoke    # seconds-long sizes: checks the bench works
//!
//! Options: --smoke, --only 1,2,3,4,5,6 (rows; 2 and 3 run together),
//! --json PATH (default target/bench/results.json).
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
mod load;
mod machine;
mod raw_fanout;
mod raw_temporal;
mod report;
mod stack;
mod stats;
mod ws;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use kitchen_adapters::config::Settings;
use secrecy::ExposeSecret;

use crate::env::{Findings, Run};
use crate::machine::Machine;
use crate::report::Report;

#[derive(Debug)]
struct Args {
    smoke: bool,
    rows: Vec<u8>,
    json: PathBuf,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let mut parsed = Args {
        smoke: false,
        rows: vec![1, 2, 4, 5, 6],
        json: PathBuf::from("target/bench/results.json"),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => parsed.smoke = true,
            "--only" => {
                let list = args
                    .next()
                    .context("--only needs a list of rows, e.g. 1,4")?;
                parsed.rows = list
                    .split(',')
                    .map(|r| match r.trim() {
                        "1" => Ok(1),
                        "2" | "3" => Ok(2),
                        "4" => Ok(4),
                        "5" => Ok(5),
                        "6" => Ok(6),
                        other => bail!("unknown row {other:?} (rows are 1 to 6)"),
                    })
                    .collect::<anyhow::Result<_>>()?;
                parsed.rows.dedup();
            }
            "--json" => parsed.json = args.next().context("--json needs a path")?.into(),
            "-h" | "--help" => {
                println!("usage: kitchen-bench [--smoke] [--only 1,2,3,4,5,6] [--json PATH]");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok(parsed)
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
    let mut argv = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some(raw_fanout::FLAG) {
        // A child of the bench: the raw fan-out server of row 5.
        let (url, bytes) = (argv.nth(1), argv.next());
        let (Some(url), Some(Ok(bytes))) = (url, bytes.map(|b| b.parse())) else {
            bail!(
                "usage: kitchen-bench {} DATABASE_URL FRAME_BYTES",
                raw_fanout::FLAG
            );
        };
        return raw_fanout::serve(&url, bytes).await;
    }
    let args = parse_args(argv)?;
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
            _ => "row 6: hydration",
        };
        println!("== {name}");
        let result = match row {
            1 => gateway_accept::run(&run, &mut findings).await,
            2 => e2e::run(&run, &mut findings).await,
            4 => append::run(&run, &mut findings).await,
            5 => fanout::run(&run, &mut findings).await,
            _ => hydration::run(&run, &mut findings).await,
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

    fn parse(args: &[&str]) -> anyhow::Result<Args> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn arguments() {
        let a = parse(&[]).unwrap();
        assert_eq!((a.smoke, a.rows.as_slice()), (false, &[1, 2, 4, 5, 6][..]));
        let a = parse(&["--smoke", "--only", "2,3", "--json", "x.json"]).unwrap();
        assert_eq!(
            (a.smoke, a.rows.as_slice(), a.json),
            (true, &[2][..], PathBuf::from("x.json"))
        );
        assert!(parse(&["--only", "7"])
            .unwrap_err()
            .to_string()
            .contains("unknown row"));
        assert!(parse(&["--fast"]).is_err());
        assert!(parse(&["--only"]).is_err());
    }
}
