//! The pump's waiting line, dealt round robin over tenants: each turn takes
//! the next command of the next tenant with one waiting, so a tenant with a
//! thousand commands waiting delays another tenant's next command by at most
//! one turn per tenant with work (issue 15). Wakes (NOTIFY) and sweeps
//! (`due_commands()`, itself round robin) both feed it.
//!
//! Bounded: each tenant holds at most `per_tenant` commands here. A wake past
//! that is dropped and marks the line as having missed some, so the pump
//! sweeps again once it runs short: the table is the source of truth, and a
//! NOTIFY only a hint.
//!
//! It also measures the *head wait*: how long a tenant's next command waits
//! for a start slot once it is first in its tenant's line. That is what a new
//! command of any tenant would wait, whatever another tenant's backlog, so it
//! is the overload signal the pump reports in its heartbeat (a long backlog
//! of one tenant alone does not raise it; slow starts or many busy tenants do).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kitchen_domain::{CommandId, TenantId};

/// One tenant's line and since when its front command has been first.
#[derive(Debug)]
struct Line {
    ids: VecDeque<CommandId>,
    head_since: Instant,
}

#[derive(Debug)]
pub(crate) struct FairQueue {
    per_tenant: usize,
    waiting: HashMap<TenantId, Line>,
    /// Tenants with something waiting, in turn order (each at most once).
    turns: VecDeque<TenantId>,
    /// What is waiting, so a wake and a sweep naming one command queue it once.
    queued: HashSet<(TenantId, CommandId)>,
    /// A wake was dropped (or a sweep was cut short): sweep again soon.
    missed: bool,
    /// The longest head wait seen since the heartbeat last took it, in ms.
    head_wait_ms: Arc<AtomicU64>,
}

impl FairQueue {
    pub(crate) fn new(per_tenant: usize) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            waiting: HashMap::new(),
            turns: VecDeque::new(),
            queued: HashSet::new(),
            missed: false,
            head_wait_ms: Arc::default(),
        }
    }

    /// Where the longest head wait is kept (the heartbeat takes it each beat).
    pub(crate) fn head_wait(&self) -> Arc<AtomicU64> {
        self.head_wait_ms.clone()
    }

    fn record_wait(&self, wait: Duration) {
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        self.head_wait_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// Records the wait of every front command still waiting now, so a line
    /// that does not move at all (no free slot) still shows its wait.
    pub(crate) fn record_waiting_heads(&self) {
        if let Some(oldest) = self.waiting.values().map(|l| l.head_since).min() {
            self.record_wait(oldest.elapsed());
        }
    }

    /// Queues `id` at the back of its tenant's line (once).
    pub(crate) fn push(&mut self, tenant: TenantId, id: CommandId) {
        if self.queued.contains(&(tenant, id)) {
            return;
        }
        let line = self.waiting.entry(tenant).or_insert_with(|| Line {
            ids: VecDeque::new(),
            head_since: Instant::now(),
        });
        if line.ids.len() >= self.per_tenant {
            self.missed = true;
            return;
        }
        if line.ids.is_empty() {
            line.head_since = Instant::now();
            self.turns.push_back(tenant);
        }
        line.ids.push_back(id);
        self.queued.insert((tenant, id));
    }

    /// The next tenant's next command; that tenant goes to the back of the turns.
    pub(crate) fn pop(&mut self) -> Option<(TenantId, CommandId)> {
        let tenant = self.turns.pop_front()?;
        let line = self.waiting.get_mut(&tenant)?;
        let id = line.ids.pop_front()?;
        let waited = line.head_since.elapsed();
        if line.ids.is_empty() {
            self.waiting.remove(&tenant);
        } else {
            line.head_since = Instant::now();
            self.turns.push_back(tenant);
        }
        self.queued.remove(&(tenant, id));
        self.record_wait(waited);
        Some((tenant, id))
    }

    pub(crate) fn len(&self) -> usize {
        self.queued.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    /// Marks that the table may hold due work not queued here.
    pub(crate) fn mark_missed(&mut self) {
        self.missed = true;
    }

    /// Whether something was missed since the last call (and forgets it).
    pub(crate) fn take_missed(&mut self) -> bool {
        std::mem::take(&mut self.missed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_of_one_tenant_lets_another_tenant_through_at_the_next_turn() {
        let mut queue = FairQueue::new(100);
        let (noisy, quiet) = (TenantId::new_random(), TenantId::new_random());
        for _ in 0..50 {
            queue.push(noisy, CommandId::new_random());
        }
        assert_eq!(queue.pop().map(|(t, _)| t), Some(noisy));
        let quiet_command = CommandId::new_random();
        queue.push(quiet, quiet_command);
        // One noisy command was already due before the quiet one arrived.
        assert_eq!(queue.pop().map(|(t, _)| t), Some(noisy));
        assert_eq!(queue.pop(), Some((quiet, quiet_command)));
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest.len(), 48);
        assert!(rest.iter().all(|(t, _)| *t == noisy));
        assert!(queue.is_empty());
    }

    #[test]
    fn tenants_alternate_and_each_keeps_its_own_order() {
        let mut queue = FairQueue::new(10);
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        let a_ids: Vec<_> = (0..3).map(|_| CommandId::new_random()).collect();
        let b_ids: Vec<_> = (0..2).map(|_| CommandId::new_random()).collect();
        for id in &a_ids {
            queue.push(a, *id);
        }
        for id in &b_ids {
            queue.push(b, *id);
        }
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![
                (a, a_ids[0]),
                (b, b_ids[0]),
                (a, a_ids[1]),
                (b, b_ids[1]),
                (a, a_ids[2])
            ]
        );
    }

    #[test]
    fn the_head_wait_is_the_front_commands_not_the_backlogs() {
        let mut queue = FairQueue::new(100);
        let tenant = TenantId::new_random();
        for _ in 0..50 {
            queue.push(tenant, CommandId::new_random());
        }
        let head_wait = queue.head_wait();
        std::thread::sleep(Duration::from_millis(30));
        queue.record_waiting_heads();
        assert!(head_wait.swap(0, Ordering::Relaxed) >= 30);
        // The front one did wait that long...
        queue.pop();
        assert!(head_wait.swap(0, Ordering::Relaxed) >= 30);
        // ...but popped one after another, each next one is first only briefly.
        while queue.pop().is_some() {}
        assert!(head_wait.load(Ordering::Relaxed) < 30);
    }

    #[test]
    fn a_command_is_queued_once_and_a_full_line_drops_wakes_and_asks_for_a_sweep() {
        let mut queue = FairQueue::new(2);
        let tenant = TenantId::new_random();
        let first = CommandId::new_random();
        queue.push(tenant, first);
        queue.push(tenant, first);
        assert_eq!(queue.len(), 1);
        assert!(!queue.take_missed());
        queue.push(tenant, CommandId::new_random());
        queue.push(tenant, CommandId::new_random());
        assert_eq!(queue.len(), 2);
        assert!(queue.take_missed());
        assert!(!queue.take_missed(), "taken once");
    }
}
