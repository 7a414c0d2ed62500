//! The drill's table (printed) and its JSON (written where `--json` says).

use std::path::Path;

use serde::Serialize;

use crate::audit::Findings;

/// One fault's row.
#[derive(Debug, Serialize)]
pub struct Row {
    pub fault: String,
    /// What the injection did (sessions killed, how long a process was down).
    pub injected: String,
    /// Commands answered 2xx.
    pub accepted: u64,
    /// Answers 429 (quota) and 503 `overloaded`.
    pub rate_limited: u64,
    pub overloaded: u64,
    /// Other 5xx and unanswered requests, each retried with the same id.
    pub unavailable: u64,
    pub network_errors: u64,
    pub abandoned: u64,
    pub refused: Vec<String>,
    /// From the injection until a command posted after it reached its
    /// tenant's socket (for a flood or burst: from its end).
    pub recover_ms: Option<u64>,
    /// The probe's steps, in ms from the same instant.
    pub recover_steps: Option<Recovery>,
    /// What the phase must show beyond the audit (e.g. the flood got 429s).
    pub checks: Vec<Check>,
    pub findings: Findings,
}

/// When the recovery probe was accepted (2xx), seen succeeded (polling
/// `GET /v1/commands/{id}`), and its event arrived on tenant 0's socket.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recovery {
    pub accepted: u64,
    pub succeeded: u64,
    pub on_socket: u64,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub what: String,
    pub passed: bool,
}

impl Row {
    pub fn shed(&self) -> u64 {
        self.rate_limited + self.overloaded
    }

    pub fn passed(&self) -> bool {
        self.findings.clean()
            && self.checks.iter().all(|c| c.passed)
            && self.refused.is_empty()
            && self.abandoned == 0
            && self.recover_ms.is_some()
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: String,
    pub mode: String,
    pub settings: serde_json::Value,
    pub rows: Vec<Row>,
    pub passed: bool,
    pub seconds: u64,
}

pub fn header() {
    println!(
        "{:<32} {:>8} {:>6} {:>5} {:>10} {:>7} {:>11} {:>10}  ok",
        "fault", "accepted", "shed", "lost", "duplicated", "foreign", "unexplained", "recover"
    );
}

pub fn print(row: &Row) {
    let recover = row
        .recover_ms
        .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_else(|| "never".into());
    println!(
        "{:<32} {:>8} {:>6} {:>5} {:>10} {:>7} {:>11} {:>10}  {}",
        row.fault,
        row.accepted,
        row.shed(),
        row.findings.lost,
        row.findings.duplicated,
        row.findings.foreign,
        row.findings.unexplained,
        recover,
        if row.passed() { "yes" } else { "NO" }
    );
    if let Some(steps) = row.recover_steps {
        println!(
            "    probe: accepted {} ms, succeeded {} ms, on the socket {} ms",
            steps.accepted, steps.succeeded, steps.on_socket
        );
    }
    for check in &row.checks {
        let verdict = if check.passed {
            "check"
        } else {
            "check FAILED"
        };
        println!("    {verdict}: {}", check.what);
    }
    for detail in &row.findings.details {
        println!("    {detail}");
    }
    for refusal in row.refused.iter().take(5) {
        println!("    refused: {refusal}");
    }
}

/// The table as Markdown, for RELIABILITY.md.
pub fn markdown(report: &Report) -> String {
    let mut text = String::from(
        "| fault | accepted | shed (429 / 503) | lost | duplicated | foreign | unexplained | retried (5xx / no answer) | time to recover |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in &report.rows {
        text.push_str(&format!(
            "| {} | {} | {} ({} / {}) | {} | {} | {} | {} | {} / {} | {} |\n",
            row.fault,
            row.accepted,
            row.shed(),
            row.rate_limited,
            row.overloaded,
            row.findings.lost,
            row.findings.duplicated,
            row.findings.foreign,
            row.findings.unexplained,
            row.unavailable,
            row.network_errors,
            row.recover_ms
                .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                .unwrap_or_else(|| "never".into()),
        ));
    }
    text
}

pub fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)?)?;
    std::fs::write(path.with_extension("md"), markdown(report))?;
    Ok(())
}

/// CPU model, cores and memory, from /proc.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores ({cpu}), {memory_gib:.1} GiB")
}
