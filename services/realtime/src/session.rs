//! One WebSocket: check that the client's place exists in the log (else a
//! `reset` frame and close 4009), catch up from the table, say `ready`, then
//! relay live batches, de-duplicated and gap-filled by seq, so every event is
//! sent once and in order, and command outcomes after their events.
//! Heartbeats detect dead peers; the socket closes when its token expires, when
//! it cannot keep up (its queue in the hub overflowed, or a write timed out), or
//! on shutdown (1001, with where to resume).
//!
//! Once live, the connection's own task frames the live batches (`outbox`);
//! this task takes over only what needs waiting on something else: a gap or
//! an outcome whose events must be read from the table first.

use std::time::{Duration, Instant};

use actix_ws::{Message, MessageStream};
use kitchen_adapters::postgres::stream::{log_head, read_after};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::tenant_gate::{GateError, TenantGate};
use kitchen_domain::{Seq, TenantId};
use tokio::sync::broadcast::error::RecvError;

use crate::hub::{Delivery, Hub};
use crate::metrics::RealtimeMetrics;
use crate::outbox::{observe_lag, Handoff, Out, Outbox, Refused};
use crate::wire;

/// Timing of one socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) heartbeat: Duration,
    pub(crate) client_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

const PAGE: u32 = 1000;

/// Why the relay stopped.
enum End {
    /// Close with `code`; with `resume`, the reason is `why` and where to
    /// resume (the last event written before the close frame).
    Close {
        code: u16,
        why: String,
        resume: bool,
    },
    Gone,
    /// Shutdown fired; becomes a 1001 close once the relay let go of the socket.
    ShuttingDown,
}

impl End {
    fn resume(code: u16, why: &str) -> End {
        End::Close {
            code,
            why: why.to_owned(),
            resume: true,
        }
    }

    fn too_slow() -> End {
        End::resume(wire::CLOSE_TOO_SLOW, "too slow")
    }

    fn server_error() -> End {
        End::Close {
            code: wire::CLOSE_SERVER_ERROR,
            why: "server error; reconnect later".into(),
            resume: false,
        }
    }
}

impl From<Refused> for End {
    fn from(refused: Refused) -> End {
        match refused {
            Refused::Gone => End::Gone,
            Refused::TooSlow => End::too_slow(),
        }
    }
}

/// What one socket keeps for its life: no more than it needs (not the
/// token's claims, say), as 10,000 idle sockets keep it 10,000 times.
struct Socket {
    outbox: Outbox,
    store: PgEventStore,
    tenant: TenantId,
    write_timeout: Duration,
    metrics: RealtimeMetrics,
}

/// Counts the socket in `kitchen_realtime_sockets` for as long as it lives.
struct Open(prometheus::IntGauge);

impl Open {
    fn new(metrics: &RealtimeMetrics) -> Self {
        metrics.sockets.inc();
        Self(metrics.sockets.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Socket {
    async fn send(&self, text: impl Into<bytestring::ByteString>) -> Result<(), End> {
        Ok(self
            .outbox
            .send(Out::Text(text.into()), self.write_timeout)
            .await?)
    }

    /// Queues the frame of event `seq` and moves `last` past it.
    async fn send_event(
        &self,
        seq: i64,
        text: impl Into<bytestring::ByteString>,
    ) -> Result<(), End> {
        Ok(self
            .outbox
            .send_event(seq, text.into(), self.write_timeout)
            .await?)
    }

    /// Sends every event of the table after the last one sent up to `until`
    /// (or to the end).
    async fn send_from_table(&self, until: Option<i64>) -> Result<(), End> {
        loop {
            let after = Seq::new(self.outbox.last()).unwrap_or(Seq::ZERO);
            // Boxed: the read's state lives on the heap only while it runs,
            // not in every idle socket's future.
            let page = Box::pin(read_after(self.store.pool(), self.tenant, after, PAGE))
                .await
                .map_err(|e| {
                    tracing::warn!(cause = %e, "reading events for a socket failed");
                    End::server_error()
                })?;
            let full = page.len() == PAGE as usize;
            for event in &page {
                if until.is_some_and(|u| event.seq.get() > u) {
                    return Ok(());
                }
                self.send_event(event.seq.get(), wire::event_frame(event))
                    .await?;
            }
            if !full || until.is_some_and(|u| self.outbox.last() >= u) {
                return Ok(());
            }
        }
    }

    /// Checks that the client's place exists in the log (else `reset` and
    /// 4009), sends what the table has after it, then `ready`, and lets the
    /// connection frame live batches from then on.
    async fn catch_up(&self, after: i64, epoch: Option<uuid::Uuid>) -> Result<(), End> {
        let tenant = self.tenant;
        let head = log_head(self.store.pool(), tenant).await.map_err(|e| {
            tracing::warn!(cause = %e, "reading the log head for a socket failed");
            End::server_error()
        })?;
        if after > head.seq.get() || epoch.is_some_and(|e| e != head.epoch) {
            // The client's seqs are not this log's: waiting for them would be
            // waiting forever (a restored database, a recreated tenant).
            tracing::info!(tenant_id = %tenant, after, head = head.seq.get(), "client is past the head or of another epoch; reset");
            self.metrics.resets.inc();
            self.send(wire::reset_frame(head.seq.get(), head.epoch))
                .await?;
            return Err(End::Close {
                code: wire::CLOSE_REHYDRATE,
                why: wire::REHYDRATE.into(),
                resume: false,
            });
        }
        self.send_from_table(None).await?;
        self.send(wire::ready_frame(self.outbox.last(), head.epoch))
            .await?;
        // Live batches are framed by the connection itself from here on.
        self.outbox.go_live();
        Ok(())
    }

    /// Deals with what the body could not frame itself, then lets it go on.
    async fn take_over(&self, handoff: Handoff, lagged: bool) -> Result<(), End> {
        match handoff {
            Handoff::Ended if lagged => return Err(End::too_slow()),
            // The hub stopped: shutdown.
            Handoff::Ended => return Err(End::resume(wire::CLOSE_GOING_AWAY, wire::GOING_AWAY)),
            Handoff::Delivery(Delivery::Outcomes(outcomes)) => {
                for outcome in outcomes.iter() {
                    // Its events go first (the hub queues it behind them; a
                    // socket that joined after they were handed out reads
                    // them from the table).
                    if outcome.last_seq > self.outbox.last() {
                        self.send_from_table(Some(outcome.last_seq)).await?;
                    }
                    self.send(outcome.text.clone()).await?;
                    self.metrics.outcome_frames_sent.inc();
                }
            }
            Handoff::Delivery(Delivery::Events(batch)) => {
                if let Some(first) = batch.first().map(|f| f.seq) {
                    if first > self.outbox.last() + 1 {
                        // Something between was not relayed to us: read it.
                        self.send_from_table(Some(first - 1)).await?;
                    }
                }
                let now = chrono::Utc::now();
                for frame in batch.iter() {
                    if frame.seq == self.outbox.last() + 1 {
                        self.send_event(frame.seq, frame.text.clone()).await?;
                        observe_lag(&self.metrics.commit_to_send, now, frame.committed_at);
                    }
                }
            }
        }
        self.outbox.go_live();
        Ok(())
    }
}

/// Runs the socket until it ends; see the module docs. Its frames go out
/// through `outbox`, whose body is the upgrade's response.
#[allow(clippy::too_many_arguments)] // the socket's parts, each used once
pub(crate) async fn run(
    outbox: Outbox,
    mut messages: MessageStream,
    tenant: TenantId,
    expires_at: chrono::DateTime<chrono::Utc>,
    after: i64,
    epoch: Option<uuid::Uuid>,
    hub: Hub,
    store: PgEventStore,
    gate: TenantGate,
    timing: Timing,
    shutdown: Shutdown,
) {
    // Subscribed before the catch-up, so a change during it is not missed.
    let mut changes = gate.subscribe();
    let _open = Open::new(&hub.metrics);
    let expires_in = (expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    // Join first: live batches queue up while we catch up, so nothing falls
    // between the table read and the live stream.
    let (subscription, live) = hub.join(tenant);
    outbox.attach(live);
    let socket = Socket {
        outbox,
        store,
        tenant,
        write_timeout: timing.write_timeout,
        metrics: hub.metrics.clone(),
    };
    // Not kept for the socket's life (its future holds what stays in scope).
    drop(hub);

    let relay = async {
        // Boxed, as every phase that only passes: a future is as large as its
        // largest state, and the socket's one lives as long as the socket (an
        // idle socket keeps only the live loop's state; the catch-up's ~3 KB
        // are freed once it is done).
        Box::pin(socket.catch_up(after, epoch)).await?;
        subscription.caught_up(socket.outbox.last());
        let expiry = tokio::time::sleep(expires_in);
        tokio::pin!(expiry);
        let mut heartbeat = tokio::time::interval(timing.heartbeat);
        heartbeat.tick().await;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                handoff = socket.outbox.handoff() => {
                    Box::pin(socket.take_over(handoff, subscription.lagged.is_set())).await?;
                }
                () = subscription.lagged.wait() => return Err(End::too_slow()),
                message = messages.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        last_heard = Instant::now();
                        socket.outbox.push(Out::Pong(bytes));
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Err(End::Gone),
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                change = changes.recv() => {
                    let still_active = match change {
                        Ok(change) => change.tenant != tenant || change.active,
                        // Missed some: ask the gate (its cache is current).
                        Err(RecvError::Lagged(_)) => still_active(&gate, tenant).await,
                        Err(RecvError::Closed) => return Err(End::Gone),
                    };
                    if !still_active {
                        return Err(End::resume(wire::CLOSE_TENANT_NOT_ACTIVE, wire::TENANT_NOT_ACTIVE));
                    }
                }
                _ = heartbeat.tick() => {
                    // The TTL bound, for a change no notification announced.
                    if !still_active(&gate, tenant).await {
                        return Err(End::resume(wire::CLOSE_TENANT_NOT_ACTIVE, wire::TENANT_NOT_ACTIVE));
                    }
                    if last_heard.elapsed() > timing.client_timeout {
                        tracing::info!(tenant_id = %tenant, "peer silent; dropping the socket");
                        return Err(End::Gone);
                    }
                    socket.outbox.push(Out::Ping);
                }
                _ = &mut expiry => {
                    return Err(End::resume(wire::CLOSE_TOKEN_EXPIRED, "token expired"));
                }
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), End>(())
    };
    // Shutdown interrupts any phase, catch-up included. A frame it cuts short
    // was not queued, so the hint never skips an event.
    let end = tokio::select! {
        end = relay => end,
        () = shutdown.wait() => Err(End::ShuttingDown),
    };
    let end = match end {
        Err(End::ShuttingDown) => Err(End::resume(wire::CLOSE_GOING_AWAY, wire::GOING_AWAY)),
        other => other,
    };

    drop(subscription);
    if let Err(End::Close { code, why, resume }) = end {
        if code == wire::CLOSE_TOO_SLOW {
            socket.metrics.slow_consumer_closes.inc();
        }
        tracing::info!(tenant_id = %tenant, code, %why, last = socket.outbox.last(), "closing socket");
        // The close frame queues behind what the client has not taken yet
        // (nothing new is queued meanwhile: the socket left its room, so
        // memory stays bounded); the connection writes it when it can, and
        // ends after it.
        socket.outbox.push(Out::Close { code, why, resume });
    }
}

/// False only when the gate knows the tenant is not active (a status that
/// cannot be read keeps the socket open: the database being down is not a
/// reason to drop every client).
async fn still_active(gate: &TenantGate, tenant: TenantId) -> bool {
    // Boxed: see `send_from_table`.
    !matches!(
        Box::pin(gate.check(tenant)).await,
        Err(GateError::NotActive { .. })
    )
}
