//! CPU used per process while a measurement runs, read from /proc: on a
//! 2-core machine this names what bounds a figure (Temporal, Postgres, a
//! service, or the load generator itself).

use std::collections::BTreeMap;
use std::time::Instant;

/// Linux reports process times in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// Busy ticks per process group at one instant.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    ticks: BTreeMap<&'static str, u64>,
}

fn group(comm: &str, pid: u32) -> Option<&'static str> {
    if pid == std::process::id() {
        return Some("bench (load)");
    }
    Some(match comm {
        "postgres" => "postgres",
        c if c.starts_with("temporal") => "temporal",
        "command-gateway" => "gateway",
        "command-pump" => "pump",
        "worker" => "worker",
        "realtime" => "realtime",
        // Another kitchen-bench process: the raw fan-out server.
        "kitchen-bench" => "raw server",
        _ => return None,
    })
}

/// utime + stime of one process from /proc/PID/stat.
fn busy_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    // Fields after the comm start at field 3 (state); utime is 14, stime 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

impl CpuSample {
    pub fn now() -> CpuSample {
        let mut ticks = BTreeMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                    continue;
                };
                if let Some((comm, busy)) = busy_ticks(&stat) {
                    if let Some(g) = group(&comm, pid) {
                        *ticks.entry(g).or_insert(0) += busy;
                    }
                }
            }
        }
        CpuSample {
            at: Instant::now(),
            ticks,
        }
    }

    /// Cores used per group since `self`, busiest first, e.g.
    /// "temporal 0.92, postgres 0.41, worker 0.20".
    pub fn split_until_now(&self) -> String {
        let now = CpuSample::now();
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let mut used: Vec<(&str, f64)> = now
            .ticks
            .iter()
            .map(|(g, t)| {
                let before = self.ticks.get(g).copied().unwrap_or(0);
                (*g, t.saturating_sub(before) as f64 / TICKS_PER_SEC / secs)
            })
            .filter(|(_, cores)| *cores >= 0.01)
            .collect();
        used.sort_by(|a, b| b.1.total_cmp(&a.1));
        let total: f64 = used.iter().map(|(_, c)| c).sum();
        let parts: Vec<String> = used.iter().map(|(g, c)| format!("{g} {c:.2}")).collect();
        format!("cores busy {total:.2}: {}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utime_and_stime_even_with_spaces_in_the_name() {
        let stat = "42 (tokio (rt) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 30 0 0 20 0 1 0 5 0 0";
        assert_eq!(busy_ticks(stat), Some(("tokio (rt) x".into(), 280)));
    }

    #[test]
    fn this_process_is_sampled() {
        let sample = CpuSample::now();
        assert!(sample.ticks.contains_key("bench (load)"));
    }
}
