//! One WebSocket: check that the client's place exists in the log (else a
//! `reset` frame and close 4009), catch up from the table, say `ready`, then
//! relay live batches, de-duplicated and gap-filled by seq, so every event is
//! sent once and in order, and command outcomes after their events.
//! Heartbeats detect dead peers; the socket closes when its token expires, when
//! it cannot keep up (its queue in the hub overflowed, or a write timed out), or
//! on shutdown (1001, with where to resume).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use kitchen_adapters::auth::Caller;
use kitchen_adapters::postgres::stream::{log_head, read_after};
use kitchen_adapters::postgres::PgEventStore;
use kitchen_adapters::shutdown::Shutdown;
use kitchen_adapters::tenant_gate::{GateError, TenantGate};
use kitchen_domain::Seq;
use tokio::sync::broadcast::error::RecvError;

use crate::hub::{Delivery, Hub};
use crate::metrics::RealtimeMetrics;
use crate::wire;

/// Timing of one socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    pub(crate) heartbeat: Duration,
    pub(crate) client_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

const PAGE: u32 = 1000;

/// On shutdown, how long the close frame may wait behind unread frames: the
/// process has to exit within 10 s, and a client that does not read in time
/// resumes from the same `after` either way.
const SHUTDOWN_CLOSE_WAIT: Duration = Duration::from_secs(2);

/// Why the relay stopped.
enum End {
    Close(u16, String),
    Gone,
    /// Shutdown fired; becomes a 1001 close once the relay let go of the socket.
    ShuttingDown,
}

struct Socket {
    session: Session,
    store: PgEventStore,
    caller: Caller,
    write_timeout: Duration,
    /// The last seq sent on this socket.
    last: i64,
    metrics: RealtimeMetrics,
}

/// Counts the socket in `kitchen_realtime_sockets` for as long as it lives.
struct Open(RealtimeMetrics);

impl Open {
    fn new(metrics: &RealtimeMetrics) -> Self {
        metrics.sockets.inc();
        Self(metrics.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.sockets.dec();
    }
}

impl Socket {
    async fn send(&mut self, text: impl Into<bytestring::ByteString>) -> Result<(), End> {
        match tokio::time::timeout(self.write_timeout, self.session.text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::Close(
                wire::CLOSE_TOO_SLOW,
                self.resume_hint("too slow"),
            )),
        }
    }

    /// Sends the frame of event `seq` and moves `last` past it.
    async fn send_event(
        &mut self,
        seq: i64,
        text: impl Into<bytestring::ByteString>,
    ) -> Result<(), End> {
        self.send(text).await?;
        self.last = seq;
        self.metrics.frames_sent.inc();
        Ok(())
    }

    fn resume_hint(&self, why: &str) -> String {
        wire::resume_hint(why, self.last)
    }

    /// Sends every event of the table after `self.last` up to `until` (or to the end).
    async fn send_from_table(&mut self, until: Option<i64>) -> Result<(), End> {
        loop {
            let after = Seq::new(self.last).unwrap_or(Seq::ZERO);
            let page = read_after(self.store.pool(), self.caller.tenant, after, PAGE)
                .await
                .map_err(|e| {
                    tracing::warn!(cause = %e, "reading events for a socket failed");
                    End::Close(
                        wire::CLOSE_SERVER_ERROR,
                        "server error; reconnect later".into(),
                    )
                })?;
            let full = page.len() == PAGE as usize;
            for event in &page {
                if until.is_some_and(|u| event.seq.get() > u) {
                    return Ok(());
                }
                self.send_event(event.seq.get(), wire::event_frame(event))
                    .await?;
            }
            if !full || until.is_some_and(|u| self.last >= u) {
                return Ok(());
            }
        }
    }
}

/// Runs the socket until it ends; see the module docs.
#[allow(clippy::too_many_arguments)] // the socket's parts, each used once
pub(crate) async fn run(
    session: Session,
    mut messages: MessageStream,
    caller: Caller,
    after: i64,
    epoch: Option<uuid::Uuid>,
    hub: Hub,
    store: PgEventStore,
    gate: TenantGate,
    timing: Timing,
    shutdown: Shutdown,
) {
    let tenant = caller.tenant;
    // Subscribed before the catch-up, so a change during it is not missed.
    let mut changes = gate.subscribe();
    let _open = Open::new(&hub.metrics);
    let expires_in = (caller.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    // Join first: live batches queue up while we catch up, so nothing falls
    // between the table read and the live stream.
    let mut subscription = hub.join(tenant);
    let mut socket = Socket {
        session: session.clone(),
        store,
        caller,
        write_timeout: timing.write_timeout,
        last: after,
        metrics: hub.metrics.clone(),
    };

    let relay = async {
        let head = log_head(socket.store.pool(), tenant).await.map_err(|e| {
            tracing::warn!(cause = %e, "reading the log head for a socket failed");
            End::Close(
                wire::CLOSE_SERVER_ERROR,
                "server error; reconnect later".into(),
            )
        })?;
        if after > head.seq.get() || epoch.is_some_and(|e| e != head.epoch) {
            // The client's seqs are not this log's: waiting for them would be
            // waiting forever (a restored database, a recreated tenant).
            tracing::info!(tenant_id = %tenant, after, head = head.seq.get(), "client is past the head or of another epoch; reset");
            socket.metrics.resets.inc();
            socket
                .send(wire::reset_frame(head.seq.get(), head.epoch))
                .await?;
            return Err(End::Close(wire::CLOSE_REHYDRATE, wire::REHYDRATE.into()));
        }
        socket.send_from_table(None).await?;
        socket
            .send(wire::ready_frame(socket.last, head.epoch))
            .await?;
        let expiry = tokio::time::sleep(expires_in);
        tokio::pin!(expiry);
        let mut heartbeat = tokio::time::interval(timing.heartbeat);
        heartbeat.tick().await;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                delivery = subscription.deliveries.recv() => {
                    let Some(delivery) = delivery else {
                        if subscription.lagged.load(Ordering::SeqCst) {
                            return Err(End::Close(wire::CLOSE_TOO_SLOW, socket.resume_hint("too slow")));
                        }
                        // The hub stopped: shutdown.
                        return Err(End::Close(wire::CLOSE_GOING_AWAY, socket.resume_hint(wire::GOING_AWAY)));
                    };
                    let batch = match delivery {
                        Delivery::Events(batch) => batch,
                        Delivery::Outcomes(outcomes) => {
                            for outcome in outcomes.iter() {
                                // Its events go first (the hub queues it behind
                                // them; a socket that joined after they were
                                // handed out reads them from the table).
                                if outcome.last_seq > socket.last {
                                    socket.send_from_table(Some(outcome.last_seq)).await?;
                                }
                                socket.send(outcome.text.clone()).await?;
                                socket.metrics.outcome_frames_sent.inc();
                            }
                            continue;
                        }
                    };
                    let Some(first) = batch.first().map(|f| f.seq) else { continue };
                    if first > socket.last + 1 {
                        // Something between was not relayed to us: read it.
                        socket.send_from_table(Some(first - 1)).await?;
                    }
                    for frame in batch.iter() {
                        if frame.seq == socket.last + 1 {
                            socket.send_event(frame.seq, frame.text.clone()).await?;
                            observe_lag(&socket.metrics, frame.committed_at);
                        }
                    }
                }
                message = messages.recv() => match message {
                    Some(Ok(Message::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if socket.session.pong(&bytes).await.is_err() {
                            return Err(End::Gone);
                        }
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
                        return Err(End::Close(wire::CLOSE_TENANT_NOT_ACTIVE, socket.resume_hint(wire::TENANT_NOT_ACTIVE)));
                    }
                }
                _ = heartbeat.tick() => {
                    // The TTL bound, for a change no notification announced.
                    if !still_active(&gate, tenant).await {
                        return Err(End::Close(wire::CLOSE_TENANT_NOT_ACTIVE, socket.resume_hint(wire::TENANT_NOT_ACTIVE)));
                    }
                    if last_heard.elapsed() > timing.client_timeout {
                        tracing::info!(tenant_id = %tenant, "peer silent; dropping the socket");
                        return Err(End::Gone);
                    }
                    if socket.session.ping(b"").await.is_err() {
                        return Err(End::Gone);
                    }
                }
                _ = &mut expiry => {
                    return Err(End::Close(wire::CLOSE_TOKEN_EXPIRED, socket.resume_hint("token expired")));
                }
            }
        }
        #[allow(unreachable_code)]
        Ok::<(), End>(())
    };
    // Shutdown interrupts any phase, catch-up included. A write it cuts short
    // was not counted in `socket.last`, so the hint never skips an event.
    let end = tokio::select! {
        end = relay => end,
        () = shutdown.wait() => Err(End::ShuttingDown),
    };
    let end = match end {
        Err(End::ShuttingDown) => Err(End::Close(
            wire::CLOSE_GOING_AWAY,
            socket.resume_hint(wire::GOING_AWAY),
        )),
        other => other,
    };
    let close_wait = if shutdown.is_triggered() {
        timing.client_timeout.min(SHUTDOWN_CLOSE_WAIT)
    } else {
        timing.client_timeout
    };

    drop(subscription);
    if let Err(End::Close(code, description)) = end {
        if code == wire::CLOSE_TOO_SLOW {
            hub.metrics.slow_consumer_closes.inc();
        }
        tracing::info!(tenant_id = %tenant, code, %description, "closing socket");
        let reason = CloseReason {
            code: CloseCode::Other(code),
            description: Some(description),
        };
        // The close frame queues behind what the client has not read yet: give a
        // slow client until its heartbeat timeout to drain and see the code.
        // Nothing new is queued meanwhile (the socket left its room), so memory
        // stays bounded.
        let _ = tokio::time::timeout(close_wait, session.close(Some(reason))).await;
    }
}

/// False only when the gate knows the tenant is not active (a status that
/// cannot be read keeps the socket open: the database being down is not a
/// reason to drop every client).
async fn still_active(gate: &TenantGate, tenant: kitchen_domain::TenantId) -> bool {
    !matches!(gate.check(tenant).await, Err(GateError::NotActive { .. }))
}

/// Commit -> send lag of a live frame (clocks of the database and this host;
/// a negative skew counts as zero).
fn observe_lag(metrics: &RealtimeMetrics, committed_at: chrono::DateTime<chrono::Utc>) {
    let lag = (chrono::Utc::now() - committed_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    metrics.commit_to_send.observe(lag.as_secs_f64());
}
