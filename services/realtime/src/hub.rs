//! The hub: one task that owns the tenant rooms. The single LISTEN connection
//! tells it which tenant has new events (`events`) and which command became
//! final (`command_outcomes`); it reads them once from the tables (through
//! RLS) and hands the same serialised frames to every socket of that tenant.
//! An outcome is queued behind the events of its command: it waits in the room
//! until the room has handed out its last seq (the socket fills any gap from
//! the table too). A room learns its starting point by reading the log's head;
//! a socket that joined before that read returned says where its catch-up
//! ended, and the room re-reads from there if its head was past it (else
//! what was committed between the two reads would reach that socket only
//! with the next event). A socket whose queue is full is dropped from its room and
//! told so: memory never grows with a stuck client. On shutdown the hub stops
//! and drops every queue (sockets close with 1001 and their resume hint).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use kitchen_adapters::postgres::listen::ListenHealth;
use kitchen_adapters::postgres::listen::{self, HeardOn};
use kitchen_adapters::postgres::notify::{
    parse_command_outcome_notification, parse_events_notification, COMMAND_OUTCOMES_CHANNEL,
    EVENTS_CHANNEL,
};
use kitchen_adapters::postgres::stream::{final_outcome, read_after};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_domain::ports::EventStore;
use kitchen_domain::{CommandId, Seq, TenantId};
use secrecy::SecretString;
use tokio::sync::mpsc;

use crate::metrics::RealtimeMetrics;
use crate::wire;

/// One event, serialised once.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) seq: i64,
    /// The event's `created_at` (its append transaction's time): the start of
    /// the commit -> send lag.
    pub(crate) committed_at: chrono::DateTime<chrono::Utc>,
    /// Reference-counted: every socket of the room shares the same bytes.
    pub(crate) text: bytestring::ByteString,
}

/// Consecutive events of one tenant, shared by every socket of the room.
pub(crate) type Batch = Arc<Vec<Frame>>;

/// A command's outcome frame, serialised once.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The largest seq the command appended (0: none); the frame goes on a
    /// socket only once that event's frame has.
    pub(crate) last_seq: i64,
    pub(crate) text: bytestring::ByteString,
}

/// What a socket's queue carries, in the order its socket sends it. Outcomes
/// released together travel as one delivery: a burst of commands takes few
/// queue slots, as its events do.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    Events(Batch),
    Outcomes(Arc<Vec<Arc<Outcome>>>),
}

/// Frames per database read when a room catches up.
const FETCH_PAGE: u32 = 1000;

/// Set (and notified) when the hub drops a socket whose queue is full: the
/// socket's session learns it at once, even while its connection is not
/// taking frames (its queue is read by the connection's task).
#[derive(Debug, Default)]
pub(crate) struct Lagged {
    flag: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Lagged {
    pub(crate) fn is_set(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Returns once the socket was dropped for lagging.
    pub(crate) async fn wait(&self) {
        while !self.is_set() {
            self.notify.notified().await;
        }
    }

    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_one();
    }
}

/// A socket's membership (its queue is handed out by `join`); leaving the
/// room when dropped.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) lagged: Arc<Lagged>,
    id: u64,
    tenant: TenantId,
    hub: mpsc::UnboundedSender<Command>,
}

impl Subscription {
    /// Tells the room where this socket's catch-up from the table ended.
    pub(crate) fn caught_up(&self, last: i64) {
        let _ = self.hub.send(Command::CaughtUp {
            tenant: self.tenant,
            id: self.id,
            last,
        });
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.hub.send(Command::Leave {
            tenant: self.tenant,
            id: self.id,
        });
    }
}

#[derive(Debug)]
enum Command {
    Join {
        tenant: TenantId,
        id: u64,
        queue: mpsc::Sender<Delivery>,
        lagged: Arc<Lagged>,
    },
    Leave {
        tenant: TenantId,
        id: u64,
    },
    /// A member's catch-up from the table ended at `last`.
    CaughtUp {
        tenant: TenantId,
        id: u64,
        last: i64,
    },
    Heard(HeardOn),
    /// A final command's outcome, read for a room.
    OutcomeRead {
        tenant: TenantId,
        outcome: Arc<Outcome>,
    },
    Head {
        tenant: TenantId,
        seq: i64,
    },
    Fetched {
        tenant: TenantId,
        frames: Vec<Frame>,
        up_to: i64,
    },
    FetchFailed {
        tenant: TenantId,
    },
}

struct Member {
    queue: mpsc::Sender<Delivery>,
    lagged: Arc<Lagged>,
    /// Joined before the room knew its head: the head may be past where this
    /// member's catch-up ends (a member that joined later caught up after
    /// the room's head was read, so past it).
    before_head: bool,
}

#[derive(Default)]
struct Room {
    members: HashMap<u64, Member>,
    /// Highest seq handed to the members; `None` until the head is known.
    fetched: Option<i64>,
    /// Highest seq known to exist.
    target: i64,
    /// Read to the end of the log even without a known target (after a
    /// LISTEN reconnect, notifications may have been missed).
    catch_up: bool,
    fetching: bool,
    /// The lowest catch-up end a member reported below `fetched` while a read
    /// was in flight: applied when it lands.
    floor: Option<i64>,
    /// Outcomes whose events the room has not handed out yet, oldest first.
    waiting_outcomes: Vec<Arc<Outcome>>,
}

/// Handle to the hub task. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
    queue_capacity: usize,
    pub(crate) metrics: RealtimeMetrics,
}

impl Hub {
    /// Starts the hub and its LISTEN connection (as `listen_url`'s role).
    pub(crate) fn start(
        store: PgEventStore,
        listen_url: SecretString,
        queue_capacity: usize,
        metrics: RealtimeMetrics,
        shutdown: Shutdown,
        health: ListenHealth,
    ) -> Hub {
        let (commands, inbox) = mpsc::unbounded_channel();
        let (heard_tx, heard_rx) = mpsc::channel(4096);
        tokio::spawn(listen::run_channels(
            listen_url,
            &[EVENTS_CHANNEL, COMMAND_OUTCOMES_CHANNEL],
            heard_tx,
            shutdown.clone(),
            health,
        ));
        // The hub reads the listener's reports itself (no forwarding task:
        // one task hop less between a NOTIFY and its frames).
        tokio::spawn(run(
            store,
            inbox,
            heard_rx,
            commands.clone(),
            metrics.rooms.clone(),
            metrics.listen_reconnects.clone(),
            shutdown,
        ));
        Hub {
            commands,
            next_id: Arc::default(),
            queue_capacity,
            metrics,
        }
    }

    /// Joins the tenant's room. Live batches start flowing into the queue at
    /// once; the caller catches up from the table and de-duplicates by seq.
    pub(crate) fn join(&self, tenant: TenantId) -> (Subscription, mpsc::Receiver<Delivery>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (queue, deliveries) = mpsc::channel(self.queue_capacity);
        let lagged = Arc::new(Lagged::default());
        let _ = self.commands.send(Command::Join {
            tenant,
            id,
            queue,
            lagged: lagged.clone(),
        });
        let subscription = Subscription {
            lagged,
            id,
            tenant,
            hub: self.commands.clone(),
        };
        (subscription, deliveries)
    }
}

/// Runs until `shutdown`. It holds a sender to its own inbox (`me`, for the
/// results of its reads), so the inbox alone would never end it.
async fn run(
    store: PgEventStore,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    mut heard: mpsc::Receiver<HeardOn>,
    me: mpsc::UnboundedSender<Command>,
    rooms_gauge: prometheus::IntGauge,
    reconnects: prometheus::IntCounter,
    shutdown: Shutdown,
) {
    let mut rooms: HashMap<TenantId, Room> = HashMap::new();
    // Only the listener's own reports count as reconnects: the hub also sends
    // itself `Connected` to retry a failed read.
    let mut connected_before = false;
    let mut listening = true;
    loop {
        let command = tokio::select! {
            command = inbox.recv() => command,
            report = heard.recv(), if listening => match report {
                Some(report) => {
                    if report == HeardOn::Connected {
                        if connected_before {
                            reconnects.inc();
                        }
                        connected_before = true;
                    }
                    Some(Command::Heard(report))
                }
                // The listener stopped (it only does on shutdown).
                None => {
                    listening = false;
                    continue;
                }
            },
            () = shutdown.wait() => None,
        };
        let Some(command) = command else { break };
        match command {
            Command::Join {
                tenant,
                id,
                queue,
                lagged,
            } => {
                let room = rooms.entry(tenant).or_default();
                let before_head = room.fetched.is_none();
                room.members.insert(
                    id,
                    Member {
                        queue,
                        lagged,
                        before_head,
                    },
                );
                maybe_fetch(&store, tenant, room, &me);
            }
            Command::CaughtUp { tenant, id, last } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    if room
                        .members
                        .get_mut(&id)
                        .is_some_and(|m| std::mem::replace(&mut m.before_head, false))
                    {
                        room.floor = Some(room.floor.map_or(last, |f| f.min(last)));
                        if !room.fetching {
                            apply_floor(room);
                            maybe_fetch(&store, tenant, room, &me);
                        }
                    }
                }
            }
            Command::Leave { tenant, id } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    room.members.remove(&id);
                    if room.members.is_empty() && !room.fetching {
                        rooms.remove(&tenant);
                    }
                }
            }
            Command::Heard(HeardOn::Connected) => {
                // Anything committed while we were not listening is caught up.
                for (tenant, room) in rooms.iter_mut() {
                    room.catch_up = true;
                    maybe_fetch(&store, *tenant, room, &me);
                }
            }
            Command::Heard(HeardOn::Payload { channel, payload })
                if channel == COMMAND_OUTCOMES_CHANNEL =>
            {
                let Ok(note) = parse_command_outcome_notification(&payload) else {
                    tracing::warn!(%payload, "ignoring malformed command outcome notification");
                    continue;
                };
                let (Ok(tenant), Ok(command)) = (
                    TenantId::from_uuid(note.tenant_id),
                    CommandId::from_uuid(note.id),
                ) else {
                    continue;
                };
                // Only tenants with sockets are read for.
                if rooms.contains_key(&tenant) {
                    spawn_outcome_read(&store, tenant, command, &me);
                }
            }
            Command::OutcomeRead { tenant, outcome } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    if room.fetched.is_some_and(|f| f >= outcome.last_seq) {
                        broadcast(room, Delivery::Outcomes(Arc::new(vec![outcome])));
                    } else {
                        room.target = room.target.max(outcome.last_seq);
                        room.waiting_outcomes.push(outcome);
                        maybe_fetch(&store, tenant, room, &me);
                    }
                }
                drop_if_empty(&mut rooms, tenant);
            }
            Command::Heard(HeardOn::Payload { payload, .. }) => {
                let Ok(note) = parse_events_notification(&payload) else {
                    tracing::warn!(%payload, "ignoring malformed events notification");
                    continue;
                };
                let Ok(tenant) = TenantId::from_uuid(note.tenant_id) else {
                    continue;
                };
                if let Some(room) = rooms.get_mut(&tenant) {
                    room.target = room.target.max(note.last_seq);
                    maybe_fetch(&store, tenant, room, &me);
                }
            }
            Command::Head { tenant, seq } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    room.fetching = false;
                    room.fetched = Some(seq);
                    apply_floor(room);
                    release_outcomes(room);
                    maybe_fetch(&store, tenant, room, &me);
                }
                drop_if_empty(&mut rooms, tenant);
            }
            Command::Fetched {
                tenant,
                frames,
                up_to,
            } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    room.fetching = false;
                    if frames.len() < FETCH_PAGE as usize {
                        room.catch_up = false;
                    }
                    room.fetched = Some(up_to);
                    if !frames.is_empty() {
                        broadcast(room, Delivery::Events(Arc::new(frames)));
                    }
                    apply_floor(room);
                    release_outcomes(room);
                    maybe_fetch(&store, tenant, room, &me);
                }
                drop_if_empty(&mut rooms, tenant);
            }
            Command::FetchFailed { tenant } => {
                if let Some(room) = rooms.get_mut(&tenant) {
                    room.fetching = false;
                    room.catch_up = true;
                    // Try again shortly; sockets keep their place meanwhile.
                    let me = me.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        let _ = me.send(Command::Heard(HeardOn::Connected));
                    });
                }
            }
        }
        // (The arms that `continue` above add or remove no room.)
        rooms_gauge.set(rooms.len() as i64);
    }
    // Dropping the rooms closes every member's queue.
    tracing::info!(rooms = rooms.len(), "hub stopped");
}

fn drop_if_empty(rooms: &mut HashMap<TenantId, Room>, tenant: TenantId) {
    if rooms
        .get(&tenant)
        .is_some_and(|r| r.members.is_empty() && !r.fetching)
    {
        rooms.remove(&tenant);
    }
}

/// Moves the room back to the lowest catch-up end reported below what it has
/// handed out, so the next read hands out what lies between (members that
/// have it drop it by seq).
fn apply_floor(room: &mut Room) {
    if let (Some(floor), Some(fetched)) = (room.floor.take(), room.fetched) {
        if floor < fetched {
            room.target = room.target.max(fetched);
            room.fetched = Some(floor);
        }
    }
}

/// Hands the outcomes whose events the room has now handed out to its members,
/// in the order they were read.
fn release_outcomes(room: &mut Room) {
    let Some(fetched) = room.fetched else { return };
    if room.waiting_outcomes.is_empty() {
        return;
    }
    let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut room.waiting_outcomes)
        .into_iter()
        .partition(|o| o.last_seq <= fetched);
    room.waiting_outcomes = waiting;
    if !ready.is_empty() {
        broadcast(room, Delivery::Outcomes(Arc::new(ready)));
    }
}

fn broadcast(room: &mut Room, delivery: Delivery) {
    room.members
        .retain(|_, member| match member.queue.try_send(delivery.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                member.lagged.set();
                false // dropping the sender ends the socket's queue
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
}

fn maybe_fetch(
    store: &PgEventStore,
    tenant: TenantId,
    room: &mut Room,
    me: &mpsc::UnboundedSender<Command>,
) {
    if room.fetching || room.members.is_empty() {
        return;
    }
    let Some(fetched) = room.fetched else {
        room.fetching = true;
        spawn_head(store.clone(), tenant, me.clone());
        return;
    };
    if room.target <= fetched && !room.catch_up {
        return;
    }
    room.fetching = true;
    let (pool, me) = (store.pool().clone(), me.clone());
    tokio::spawn(async move {
        let after = Seq::new(fetched).unwrap_or(Seq::ZERO);
        // One statement for the batch, whatever the number of sockets.
        match read_after(&pool, tenant, after, FETCH_PAGE).await {
            Ok(events) => {
                let up_to = events.last().map(|e| e.seq.get()).unwrap_or(fetched);
                let frames = events
                    .iter()
                    .map(|e| Frame {
                        seq: e.seq.get(),
                        committed_at: e.created_at,
                        text: wire::event_frame(e).into(),
                    })
                    .collect();
                let _ = me.send(Command::Fetched {
                    tenant,
                    frames,
                    up_to,
                });
            }
            Err(e) => {
                tracing::warn!(cause = %e, tenant_id = %tenant, "reading events for a room failed");
                let _ = me.send(Command::FetchFailed { tenant });
            }
        }
    });
}

/// Reads a final command's outcome for its tenant's room (nothing when it is
/// not a household command, or no longer readable: outcomes are live only,
/// and `GET /v1/commands/{id}` stays the source of truth).
fn spawn_outcome_read(
    store: &PgEventStore,
    tenant: TenantId,
    command: CommandId,
    me: &mpsc::UnboundedSender<Command>,
) {
    let (pool, me) = (store.pool().clone(), me.clone());
    tokio::spawn(async move {
        match final_outcome(&pool, tenant, command).await {
            Ok(Some(outcome)) => {
                let outcome = Arc::new(Outcome {
                    last_seq: outcome.last_seq(),
                    text: wire::outcome_frame(&outcome).into(),
                });
                let _ = me.send(Command::OutcomeRead { tenant, outcome });
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(cause = %e, tenant_id = %tenant, command_id = %command, "reading a command outcome failed; its frame is not sent");
            }
        }
    });
}

fn spawn_head(store: PgEventStore, tenant: TenantId, me: mpsc::UnboundedSender<Command>) {
    tokio::spawn(async move {
        match store.head(tenant).await {
            Ok(seq) => {
                let _ = me.send(Command::Head {
                    tenant,
                    seq: seq.get(),
                });
            }
            Err(e) => {
                tracing::warn!(cause = %e, tenant_id = %tenant, "reading the head of a room failed");
                let _ = me.send(Command::FetchFailed { tenant });
            }
        }
    });
}
