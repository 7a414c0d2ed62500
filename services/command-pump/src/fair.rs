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
//! In flight: a turn only deals start slots, but a started workflow then
//! waits in Temporal's task queue and the worker's slots, one FIFO for every
//! tenant, and starting is far cheaper than running. So a tenant with
//! `in_flight_cap` commands started and not yet heard final is *held*: out of
//! the turns until one of them is final (its outcome NOTIFY: `settled`). The
//! claim itself enforces the cap in SQL across pumps (migration 000041); what
//! is kept here only spares claims bound to be refused, and is forgotten at
//! every sweep (`forget_in_flight`), so a lost NOTIFY delays a tenant by one
//! sweep interval at most. A claim refused at the cap puts its command back
//! in its place (`refused`), so each tenant's line keeps its order.
//!
//! It also measures the *head wait*: how long a tenant's next command waits
//! for a start slot once it is first in its tenant's line. That is what a new
//! command of any tenant would wait, whatever another tenant's backlog, so it
//! is the overload signal the pump reports in its heartbeat (a long backlog
//! of one tenant alone does not raise it, nor does a held tenant, which waits
//! for its own commands; slow starts or many busy tenants do).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kitchen_domain::{CommandId, TenantId};

/// One tenant's line (commands with their arrival order) and since when its
/// front command has been first.
#[derive(Debug)]
struct Line {
    ids: VecDeque<(u64, CommandId)>,
    head_since: Instant,
}

/// A command taken from the line, to dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turn {
    pub(crate) tenant: TenantId,
    pub(crate) id: CommandId,
    /// Its place in arrival order (to put it back there if refused).
    order: u64,
}

#[derive(Debug)]
pub(crate) struct FairQueue {
    per_tenant: usize,
    /// Most commands of one tenant in flight; `None`: no cap.
    in_flight_cap: Option<usize>,
    waiting: HashMap<TenantId, Line>,
    /// Tenants with something waiting and room in flight, in turn order
    /// (each at most once).
    turns: VecDeque<TenantId>,
    /// Tenants with something waiting but at their in-flight cap.
    held: HashSet<TenantId>,
    /// Commands of each tenant dispatched here and not yet heard final.
    in_flight: HashMap<TenantId, usize>,
    /// What is waiting, so a wake and a sweep naming one command queue it once.
    queued: HashSet<(TenantId, CommandId)>,
    next_order: u64,
    /// A wake was dropped (or a sweep was cut short): sweep again soon.
    missed: bool,
    /// The longest head wait seen since the heartbeat last took it, in ms.
    head_wait_ms: Arc<AtomicU64>,
}

impl FairQueue {
    /// `in_flight_cap` 0: no cap.
    pub(crate) fn new(per_tenant: usize, in_flight_cap: usize) -> Self {
        Self {
            per_tenant: per_tenant.max(1),
            in_flight_cap: (in_flight_cap > 0).then_some(in_flight_cap),
            waiting: HashMap::new(),
            turns: VecDeque::new(),
            held: HashSet::new(),
            in_flight: HashMap::new(),
            queued: HashSet::new(),
            next_order: 0,
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

    /// Records the wait of every front command still waiting for a slot now
    /// (held tenants wait for their own commands, not for the platform), so a
    /// line that does not move at all (no free slot) still shows its wait.
    pub(crate) fn record_waiting_heads(&self) {
        let oldest = self
            .waiting
            .iter()
            .filter(|(tenant, _)| !self.held.contains(*tenant))
            .map(|(_, line)| line.head_since)
            .min();
        if let Some(oldest) = oldest {
            self.record_wait(oldest.elapsed());
        }
    }

    fn at_cap(&self, tenant: TenantId) -> bool {
        self.in_flight_cap
            .is_some_and(|cap| self.in_flight.get(&tenant).copied().unwrap_or(0) >= cap)
    }

    /// `tenant` has a line: into the turns, or held while at its cap.
    fn take_turn(&mut self, tenant: TenantId) {
        if self.at_cap(tenant) {
            self.held.insert(tenant);
        } else {
            self.turns.push_back(tenant);
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
        let was_empty = line.ids.is_empty();
        if was_empty {
            line.head_since = Instant::now();
        }
        line.ids.push_back((self.next_order, id));
        self.next_order += 1;
        self.queued.insert((tenant, id));
        if was_empty {
            self.take_turn(tenant);
        }
    }

    /// The next tenant's next command; that tenant goes to the back of the
    /// turns (or is held, at its cap). The command counts as in flight until
    /// `settled` or `refused`.
    pub(crate) fn pop(&mut self) -> Option<Turn> {
        let tenant = self.turns.pop_front()?;
        let line = self.waiting.get_mut(&tenant)?;
        let (order, id) = line.ids.pop_front()?;
        let waited = line.head_since.elapsed();
        let more = !line.ids.is_empty();
        if more {
            line.head_since = Instant::now();
        } else {
            self.waiting.remove(&tenant);
        }
        if self.in_flight_cap.is_some() {
            *self.in_flight.entry(tenant).or_default() += 1;
        }
        if more {
            self.take_turn(tenant);
        }
        self.queued.remove(&(tenant, id));
        self.record_wait(waited);
        Some(Turn { tenant, id, order })
    }

    /// One of `tenant`'s commands is no longer in flight (final, or never
    /// started): a held tenant takes turns again.
    pub(crate) fn settled(&mut self, tenant: TenantId) {
        if let Some(n) = self.in_flight.get_mut(&tenant) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.in_flight.remove(&tenant);
            }
        }
        self.release(tenant);
    }

    fn release(&mut self, tenant: TenantId) {
        if !self.at_cap(tenant) && self.held.remove(&tenant) {
            if let Some(line) = self.waiting.get_mut(&tenant) {
                // Its wait for a slot starts now.
                line.head_since = Instant::now();
                self.turns.push_back(tenant);
            }
        }
    }

    /// The claim of `turn` found its tenant at the cap (commands this pump
    /// has not heard final yet, or another pump's): it goes back to its place
    /// in the line, and the tenant is held until one of its commands is final.
    pub(crate) fn refused(&mut self, turn: Turn) {
        let Turn { tenant, id, order } = turn;
        if let Some(cap) = self.in_flight_cap {
            self.in_flight.insert(tenant, cap);
        }
        if !self.queued.insert((tenant, id)) {
            return;
        }
        let line = self.waiting.entry(tenant).or_insert_with(|| Line {
            ids: VecDeque::new(),
            head_since: Instant::now(),
        });
        let at = line.ids.partition_point(|(o, _)| *o < order);
        line.ids.insert(at, (order, id));
        if let Some(at) = self.turns.iter().position(|t| *t == tenant) {
            self.turns.remove(at);
        }
        self.held.insert(tenant);
    }

    /// Forgets what is in flight (every sweep): the claim counts it again in
    /// SQL, so an outcome never heard holds a tenant one sweep at most.
    pub(crate) fn forget_in_flight(&mut self) {
        self.in_flight.clear();
        for tenant in std::mem::take(&mut self.held) {
            if let Some(line) = self.waiting.get_mut(&tenant) {
                line.head_since = Instant::now();
                self.turns.push_back(tenant);
            }
        }
    }

    /// Whether a command can be taken now (some tenant not held has one).
    pub(crate) fn has_turn(&self) -> bool {
        !self.turns.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queued.len()
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
        let mut queue = FairQueue::new(100, 0);
        let (noisy, quiet) = (TenantId::new_random(), TenantId::new_random());
        for _ in 0..50 {
            queue.push(noisy, CommandId::new_random());
        }
        assert_eq!(queue.pop().map(|t| t.tenant), Some(noisy));
        let quiet_command = CommandId::new_random();
        queue.push(quiet, quiet_command);
        // One noisy command was already due before the quiet one arrived.
        assert_eq!(queue.pop().map(|t| t.tenant), Some(noisy));
        assert_eq!(
            queue.pop().map(|t| (t.tenant, t.id)),
            Some((quiet, quiet_command))
        );
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest.len(), 48);
        assert!(rest.iter().all(|t| t.tenant == noisy));
        assert!(!queue.has_turn() && queue.len() == 0);
    }

    #[test]
    fn tenants_alternate_and_each_keeps_its_own_order() {
        let mut queue = FairQueue::new(10, 0);
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        let a_ids: Vec<_> = (0..3).map(|_| CommandId::new_random()).collect();
        let b_ids: Vec<_> = (0..2).map(|_| CommandId::new_random()).collect();
        for id in &a_ids {
            queue.push(a, *id);
        }
        for id in &b_ids {
            queue.push(b, *id);
        }
        let order: Vec<_> = std::iter::from_fn(|| queue.pop())
            .map(|t| (t.tenant, t.id))
            .collect();
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
        let mut queue = FairQueue::new(100, 0);
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
        let mut queue = FairQueue::new(2, 0);
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

    #[test]
    fn a_tenant_at_its_in_flight_cap_is_held_until_one_of_its_commands_is_final() {
        let mut queue = FairQueue::new(100, 2);
        let (noisy, quiet) = (TenantId::new_random(), TenantId::new_random());
        let noisy_ids: Vec<_> = (0..5).map(|_| CommandId::new_random()).collect();
        for id in &noisy_ids {
            queue.push(noisy, *id);
        }
        assert_eq!(queue.pop().map(|t| t.id), Some(noisy_ids[0]));
        assert_eq!(queue.pop().map(|t| t.id), Some(noisy_ids[1]));
        // Two in flight: held, whatever the free slots; a quiet tenant goes.
        assert!(!queue.has_turn());
        let quiet_command = CommandId::new_random();
        queue.push(quiet, quiet_command);
        assert_eq!(queue.pop().map(|t| t.id), Some(quiet_command));
        assert!(queue.pop().is_none());
        // One of its commands is final: one more turn.
        queue.settled(noisy);
        assert_eq!(queue.pop().map(|t| t.id), Some(noisy_ids[2]));
        assert!(queue.pop().is_none());
        // A held tenant's wait is its own, not the platform's overload.
        std::thread::sleep(Duration::from_millis(30));
        queue.record_waiting_heads();
        assert!(queue.head_wait().swap(0, Ordering::Relaxed) < 30);
        // Every sweep forgets what it holds: the claim counts in SQL.
        queue.forget_in_flight();
        assert_eq!(queue.pop().map(|t| t.id), Some(noisy_ids[3]));
    }

    #[test]
    fn a_claim_refused_at_the_cap_goes_back_to_its_place_and_holds_the_tenant() {
        let mut queue = FairQueue::new(100, 4);
        let tenant = TenantId::new_random();
        let ids: Vec<_> = (0..4).map(|_| CommandId::new_random()).collect();
        for id in &ids {
            queue.push(tenant, *id);
        }
        let first = queue.pop().unwrap();
        let second = queue.pop().unwrap();
        // Both claims find the tenant at its cap (another pump's commands).
        queue.refused(second);
        queue.refused(first);
        assert!(!queue.has_turn());
        queue.settled(tenant);
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|t| t.id).collect();
        assert_eq!(order, ids[..1], "one turn per command heard final");
        queue.forget_in_flight();
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).map(|t| t.id).collect();
        assert_eq!(order, ids[1..], "the line kept its order");
    }
}
