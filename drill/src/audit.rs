//! The proof after each fault, from the drill database (read as the throwaway
//! cluster's superuser, past row-level security) and from what the sockets
//! received:
//! - every command answered 2xx exists and ends final within the deadline;
//! - every succeeded command's `result_seqs` (its `eventSeqs`) are exactly the
//!   events it caused; the only other documented causes are a scheduled
//!   order's due timer (one `OrderDue`) and provisioning's initial menu
//!   (`MenuItemAdded` events of a `tenant.provision` command);
//! - each tenant's seqs run 1..n, and its log head agrees;
//! - every socket received exactly its tenant's events, in order, once
//!   (after reconnects; seqs a `reset` made it hydrate count as received),
//!   and nothing of another tenant.
//!
//! Database checks cover the whole log each time; a phase reports what is new
//! since the previous audit. Socket checks resume where the last one ended.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use crate::cluster::Cluster;
use crate::load::{Answered, Tenant};
use crate::sockets::{EventFrame, Socket};

/// What one audit found.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Findings {
    /// Accepted commands missing or not final at the deadline, events a
    /// succeeded command announced that are not there, seq gaps, and seqs a
    /// socket never received.
    pub lost: u64,
    /// Events beyond what their command announced, seqs twice in a log, and
    /// frames a socket received twice or out of order.
    pub duplicated: u64,
    /// Frames of another tenant's events or commands, and frames whose event
    /// is not the one the tenant's log holds at that seq.
    pub foreign: u64,
    /// Events whose cause is no succeeded command.
    pub unexplained: u64,
    pub rejected: u64,
    pub failed: u64,
    /// What each finding was, for the log (the first few of each kind).
    pub details: Vec<String>,
}

impl Findings {
    fn note(&mut self, detail: String) {
        if self.details.len() < 50 {
            self.details.push(detail);
        }
    }

    pub fn clean(&self) -> bool {
        self.lost + self.duplicated + self.foreign + self.unexplained == 0
    }
}

/// Global counts of the whole database, compared between audits.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    lost: u64,
    duplicated: u64,
    unexplained: u64,
    rejected: u64,
    failed: u64,
}

/// Where each socket's check ended: frames looked at, seq verified to.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    frames: usize,
    verified: i64,
    foreign_outcomes: u64,
}

#[derive(Debug)]
pub struct Auditor {
    database: String,
    totals: Totals,
    cursors: Vec<Cursor>,
}

const FINAL: &str = "status IN ('succeeded', 'rejected', 'failed')";

impl Auditor {
    pub fn new(database: &str, sockets: usize) -> Auditor {
        Auditor {
            database: database.to_owned(),
            totals: Totals::default(),
            cursors: vec![Cursor::default(); sockets],
        }
    }

    /// A superuser connection, retried while the cluster comes back.
    async fn connect(&self, cluster: &Cluster, deadline: Instant) -> anyhow::Result<Client> {
        loop {
            match cluster.superuser(&self.database).await {
                Ok(client) => return Ok(client),
                Err(e) if Instant::now() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Waits (up to `deadline`) until no command is open, then checks the
    /// phase's `ledger` (tenant index, command id), the whole log, and every
    /// socket.
    pub async fn audit(
        &mut self,
        cluster: &Cluster,
        tenants: &[Tenant],
        ledger: &[Answered],
        sockets: &[Socket],
        deadline: Duration,
    ) -> anyhow::Result<Findings> {
        let until = Instant::now() + deadline;
        let db = self.connect(cluster, until).await?;
        let mut found = Findings::default();
        loop {
            let open: i64 = db
                .query_one(
                    &format!("SELECT count(*) FROM commands WHERE NOT {FINAL}"),
                    &[],
                )
                .await?
                .get(0);
            if open == 0 || Instant::now() > until {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        check_ledger(&db, tenants, ledger, &mut found).await?;
        let (totals, heads) = check_log(&db, &mut found).await?;
        found.lost += totals.lost.saturating_sub(self.totals.lost);
        found.duplicated += totals.duplicated.saturating_sub(self.totals.duplicated);
        found.unexplained += totals.unexplained.saturating_sub(self.totals.unexplained);
        found.rejected = totals.rejected - self.totals.rejected;
        found.failed = totals.failed - self.totals.failed;
        self.totals = totals;
        let until = Instant::now().max(until) + Duration::from_secs(30);
        for (i, socket) in sockets.iter().enumerate() {
            let tenant = &tenants[socket.tenant];
            let head = heads.get(&tenant.id.to_string()).copied().unwrap_or(0);
            while socket.last() < head && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.cursors[i] =
                check_socket(&db, tenant, socket, head, self.cursors[i], &mut found).await?;
        }
        Ok(found)
    }
}

/// Every command of the phase answered 2xx is in the table, under its
/// tenant, final.
async fn check_ledger(
    db: &Client,
    tenants: &[Tenant],
    ledger: &[Answered],
    found: &mut Findings,
) -> anyhow::Result<()> {
    let ids: Vec<String> = ledger.iter().map(|a| a.id.to_string()).collect();
    let rows = db
        .query(
            &format!(
                "SELECT tenant_id::text, id::text, {FINAL} FROM commands
                 WHERE id = ANY($1::text[]::uuid[])"
            ),
            &[&ids],
        )
        .await?;
    let stored: HashMap<(String, String), bool> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    for answered in ledger {
        let (id, status, attempts) = (answered.id, answered.status, answered.attempts);
        match stored.get(&(tenants[answered.tenant].id.to_string(), id.to_string())) {
            Some(true) => {}
            Some(false) => {
                found.lost += 1;
                found.note(format!("command {id} answered {status} (request {attempts}) but not final at the deadline"));
            }
            None => {
                found.lost += 1;
                found.note(format!(
                    "command {id} answered {status} (request {attempts}) but not stored"
                ));
            }
        }
    }
    Ok(())
}

/// The whole log against the commands; returns the totals and each tenant's head.
async fn check_log(
    db: &Client,
    found: &mut Findings,
) -> anyhow::Result<(Totals, HashMap<String, i64>)> {
    let mut totals = Totals::default();
    let mut heads = HashMap::new();
    let seqs = db
        .query(
            "SELECT t.tenant_id::text, t.last_seq,
                    count(e.seq), count(DISTINCT e.seq), coalesce(max(e.seq), 0)
             FROM tenant_sequences t LEFT JOIN events e ON e.tenant_id = t.tenant_id
             GROUP BY t.tenant_id, t.last_seq",
            &[],
        )
        .await?;
    for row in &seqs {
        let (tenant, head, count, distinct, max): (String, i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        if max != distinct || head != max {
            let gap = (head.max(max) - distinct).max(0) as u64;
            totals.lost += gap;
            found.note(format!(
                "tenant {tenant}: head {head}, {distinct} distinct seqs up to {max}"
            ));
        }
        totals.duplicated += (count - distinct) as u64;
        heads.insert(tenant, max);
    }
    let commands = db
        .query(
            "SELECT c.id::text, c.type, c.status, c.result_seqs, c.payload ? 'scheduledFor',
                    coalesce(array_agg(e.seq ORDER BY e.seq) FILTER (WHERE e.seq IS NOT NULL), '{}'),
                    coalesce(array_agg(e.type ORDER BY e.seq) FILTER (WHERE e.seq IS NOT NULL), '{}')
             FROM commands c
             LEFT JOIN events e ON e.tenant_id = c.tenant_id AND e.causation_id = c.id
             GROUP BY c.tenant_id, c.id",
            &[],
        )
        .await?;
    for row in &commands {
        let id: String = row.get(0);
        let (kind, status): (String, String) = (row.get(1), row.get(2));
        let announced: Vec<i64> = row.get(3);
        let scheduled: bool = row.get(4);
        let caused: Vec<i64> = row.get(5);
        let caused_types: Vec<String> = row.get(6);
        match status.as_str() {
            "rejected" => totals.rejected += 1,
            "failed" => totals.failed += 1,
            _ => {}
        }
        if kind == "tenant.provision" {
            let other = caused_types
                .iter()
                .filter(|t| *t != "MenuItemAdded")
                .count();
            if other > 0 || (!caused.is_empty() && status != "succeeded") {
                totals.unexplained += caused.len() as u64;
                found.note(format!(
                    "provisioning {id} ({status}) caused {caused_types:?}"
                ));
            }
            continue;
        }
        if status != "succeeded" {
            if !caused.is_empty() {
                totals.unexplained += caused.len() as u64;
                found.note(format!(
                    "{kind} {id} is {status} but caused seqs {caused:?}"
                ));
            }
            continue;
        }
        let missing = announced.iter().filter(|s| !caused.contains(s)).count() as u64;
        let mut extra: Vec<&str> = caused
            .iter()
            .zip(&caused_types)
            .filter(|(s, _)| !announced.contains(s))
            .map(|(_, t)| t.as_str())
            .collect();
        // A scheduled order's due timer: one OrderDue, not in eventSeqs.
        if scheduled && kind == "createOrder" {
            if let Some(due) = extra.iter().position(|t| *t == "OrderDue") {
                extra.remove(due);
            }
        }
        if missing > 0 || !extra.is_empty() {
            totals.lost += missing;
            totals.duplicated += extra.len() as u64;
            found.note(format!(
                "{kind} {id}: eventSeqs {announced:?}, events caused {caused:?}"
            ));
        }
    }
    let orphans: i64 = db
        .query_one(
            "SELECT count(*) FROM events e WHERE NOT EXISTS
               (SELECT 1 FROM commands c WHERE c.tenant_id = e.tenant_id AND c.id = e.causation_id)",
            &[],
        )
        .await?
        .get(0);
    if orphans > 0 {
        totals.unexplained += orphans as u64;
        found.note(format!("{orphans} events caused by no stored command"));
    }
    Ok((totals, heads))
}

/// The frames a socket received since `from`, against the tenant's log.
/// The tenant's log must be there up to at least `head` (the database's, read
/// before); frames beyond it (events appended since) are checked too.
async fn check_socket(
    db: &Client,
    tenant: &Tenant,
    socket: &Socket,
    head: i64,
    from: Cursor,
    found: &mut Findings,
) -> anyhow::Result<Cursor> {
    let me = tenant.id.to_string();
    let (frames, hydrated, foreign_outcomes) = {
        let log = socket.log.lock().expect("socket log");
        (
            log.events[from.frames..].to_vec(),
            log.hydrated.clone(),
            log.foreign_outcomes,
        )
    };
    let top = frames
        .iter()
        .filter(|f| f.tenant == me)
        .map(|f| f.seq)
        .max()
        .unwrap_or(0)
        .max(head)
        .max(from.verified);
    let log: HashMap<i64, String> = db
        .query(
            "SELECT seq, id::text FROM events
             WHERE tenant_id = $1::text::uuid AND seq > $2 AND seq <= $3",
            &[&me, &from.verified, &top],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let judged = judge_frames(&me, &frames, from.verified, top, &log, &hydrated);
    found.lost += judged.lost;
    found.duplicated += judged.duplicated;
    found.foreign += judged.foreign;
    for detail in judged.details {
        found.note(detail);
    }
    // Outcome frames are counted by the socket: report the new ones.
    if foreign_outcomes > from.foreign_outcomes {
        found.foreign += foreign_outcomes - from.foreign_outcomes;
        found.note(format!(
            "a socket of {me} got another tenant's command outcome"
        ));
    }
    Ok(Cursor {
        frames: from.frames + frames.len(),
        verified: top,
        foreign_outcomes,
    })
}

/// What a socket's frames show against its tenant's log.
#[derive(Debug, Default, PartialEq, Eq)]
struct Judgement {
    lost: u64,
    duplicated: u64,
    foreign: u64,
    details: Vec<String>,
}

/// Judges the `frames` a socket of tenant `me` received after it was checked
/// up to `verified`, against `log` (seq -> event id) up to `top`: each seq in
/// (verified, top] must arrive once, in order, with the log's event id,
/// unless a `hydrated` range covered it; nothing of another tenant.
fn judge_frames(
    me: &str,
    frames: &[EventFrame],
    verified: i64,
    top: i64,
    log: &HashMap<i64, String>,
    hydrated: &[(i64, i64)],
) -> Judgement {
    let mut judged = Judgement::default();
    let mut seen = HashSet::new();
    let mut previous = verified;
    for frame in frames {
        if frame.tenant != me {
            judged.foreign += 1;
            judged
                .details
                .push(format!("a socket of {me} got an event of {}", frame.tenant));
            continue;
        }
        if frame.seq <= previous || !seen.insert(frame.seq) {
            judged.duplicated += 1;
            judged.details.push(format!(
                "a socket of {me} got seq {} again or late",
                frame.seq
            ));
            continue;
        }
        previous = frame.seq;
        if log.get(&frame.seq) != Some(&frame.id) {
            judged.foreign += 1;
            judged.details.push(format!(
                "a socket of {me} got event {} as seq {}",
                frame.id, frame.seq
            ));
        }
    }
    let covered = |seq: i64| hydrated.iter().any(|(a, b)| (*a..=*b).contains(&seq));
    let missed = ((verified + 1)..=top)
        .filter(|s| !seen.contains(s) && !covered(*s))
        .count() as u64;
    if missed > 0 {
        judged.lost = missed;
        judged
            .details
            .push(format!("a socket of {me} missed {missed} seqs up to {top}"));
    }
    judged
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "tenant-a";

    fn frame(tenant: &str, seq: i64) -> EventFrame {
        EventFrame {
            tenant: tenant.into(),
            seq,
            id: format!("event-{seq}"),
        }
    }

    fn log(top: i64) -> HashMap<i64, String> {
        (1..=top).map(|s| (s, format!("event-{s}"))).collect()
    }

    fn judge(frames: &[EventFrame], verified: i64, top: i64, hydrated: &[(i64, i64)]) -> Judgement {
        judge_frames(ME, frames, verified, top, &log(top), hydrated)
    }

    #[test]
    fn every_seq_once_in_order_is_clean() {
        let frames: Vec<_> = (3..=6).map(|s| frame(ME, s)).collect();
        assert_eq!(judge(&frames, 2, 6, &[]), Judgement::default());
    }

    #[test]
    fn a_missing_seq_is_lost_unless_hydrated() {
        let frames = [frame(ME, 1), frame(ME, 3)];
        assert_eq!(judge(&frames, 0, 3, &[]).lost, 1);
        assert_eq!(judge(&frames, 0, 3, &[(2, 2)]), Judgement::default());
        assert_eq!(judge(&[], 0, 3, &[]).lost, 3, "nothing received");
    }

    #[test]
    fn a_repeated_or_late_seq_is_duplicated() {
        let again = [frame(ME, 1), frame(ME, 2), frame(ME, 2)];
        assert_eq!(judge(&again, 0, 2, &[]).duplicated, 1);
        let already_verified = [frame(ME, 2), frame(ME, 3)];
        assert_eq!(judge(&already_verified, 2, 3, &[]).duplicated, 1);
        let out_of_order = [frame(ME, 2), frame(ME, 1)];
        let judged = judge(&out_of_order, 0, 2, &[]);
        assert_eq!((judged.duplicated, judged.lost), (1, 1));
    }

    #[test]
    fn another_tenants_frame_or_event_is_foreign() {
        let other = [frame(ME, 1), frame("tenant-b", 2), frame(ME, 2)];
        assert_eq!(judge(&other, 0, 2, &[]).foreign, 1);
        let mut wrong_event = frame(ME, 1);
        wrong_event.id = "event-of-someone-else".into();
        let judged = judge(&[wrong_event], 0, 1, &[]);
        assert_eq!((judged.foreign, judged.lost), (1, 0));
    }
}
