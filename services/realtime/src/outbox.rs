//! A socket's way out, written from the connection's own task: the response
//! body of the upgrade is the socket's writer. When the connection can take
//! more, it frames the live batches of the socket's queue right there, so a
//! frame crosses one task hop from the hub to the wire (the hub's `try_send`
//! wakes the connection), as in a bare tokio-tungstenite server; before, it
//! crossed three (the session task, then actix-ws's channel, then the
//! connection). The session task keeps what has to wait on something else —
//! the catch-up from the table, filling a gap, an outcome whose events must
//! be read first, heartbeats, expiry, the tenant's status, closes — and hands
//! its frames to the same body through a small control queue that the body
//! writes first, in order.
//!
//! Both halves live on the same actix worker thread (the session is spawned
//! there with `actix_web::rt::spawn`), so they share plain `Rc<RefCell<_>>`
//! state: no lock, no atomic on the way of a frame.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_codec::Encoder;
use actix_http::ws::{CloseCode, CloseReason, Codec, Message};
use actix_web::web::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;
use tokio::sync::mpsc;

use crate::hub::{Delivery, Outcome};
use crate::metrics::RealtimeMetrics;
use crate::wire;

/// The series the body counts in (not all of realtime's: every socket keeps
/// its copy of these handles).
struct BodyMetrics {
    frames_sent: prometheus::IntCounter,
    outcome_frames_sent: prometheus::IntCounter,
    commit_to_send: prometheus::Histogram,
}

/// Frame bytes the session may queue before its sends wait for the client
/// (then time out as too slow): what actix-ws's 32-message channel held.
const CONTROL_LIMIT: usize = 64 * 1024;

/// Bytes framed per poll of the body before the connection writes them.
const CHUNK: usize = 16 * 1024;

/// What the session queues, in the order the client gets it.
#[derive(Debug)]
pub(crate) enum Out {
    /// An event's frame (catch-up or gap filling).
    Event(ByteString),
    /// Any other text frame (`ready`, `reset`, an outcome).
    Text(ByteString),
    Ping,
    Pong(Bytes),
    /// The last frame. With `resume`, the reason becomes `resume_hint(why,
    /// last)`, `last` taken when the close is framed (so it names exactly the
    /// last event written before it).
    Close {
        code: u16,
        why: String,
        resume: bool,
    },
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Event(text) | Out::Text(text) => text.len(),
            Out::Pong(bytes) => bytes.len(),
            Out::Ping | Out::Close { .. } => 0,
        }
    }
}

/// What the body met in the live queue that it cannot frame by itself.
#[derive(Debug)]
pub(crate) enum Handoff {
    /// A batch that starts past the next seq (a gap to read from the table
    /// first), or outcomes whose events the socket has not had yet.
    Delivery(Delivery),
    /// The queue ended: the hub dropped the socket (it lagged) or stopped.
    Ended,
}

/// The session could not queue a frame.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The connection is gone.
    Gone,
    /// The client did not take what was queued within the write timeout.
    TooSlow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only the control queue is written (catch-up; or the session holds a
    /// handoff).
    Control,
    /// The body frames live batches itself.
    Live,
}

struct Shared {
    control: VecDeque<Out>,
    control_bytes: usize,
    mode: Mode,
    handoff: Option<Handoff>,
    /// The last event seq queued on this socket (by the session) or framed
    /// (by the body, live): events go out in seq order, each once.
    last: i64,
    live: Option<mpsc::Receiver<Delivery>>,
    body_waker: Option<Waker>,
    session_waker: Option<Waker>,
    session_gone: bool,
    body_gone: bool,
}

impl Shared {
    fn wake_body(&mut self) {
        if let Some(waker) = self.body_waker.take() {
            waker.wake();
        }
    }

    fn wake_session(&mut self) {
        if let Some(waker) = self.session_waker.take() {
            waker.wake();
        }
    }

    fn hand_off(&mut self, handoff: Handoff) {
        self.handoff = Some(handoff);
        self.mode = Mode::Control;
        self.wake_session();
    }
}

fn shared_waker(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// The session's half.
pub(crate) struct Outbox {
    shared: Rc<RefCell<Shared>>,
}

/// The connection's half: the response body of the upgrade.
pub(crate) struct Body {
    shared: Rc<RefCell<Shared>>,
    codec: Codec,
    buf: BytesMut,
    metrics: BodyMetrics,
    /// The close frame was framed: nothing follows it.
    closed: bool,
}

/// A socket's outbox and the body that writes it, starting at `after`.
pub(crate) fn pair(after: i64, metrics: &RealtimeMetrics) -> (Outbox, Body) {
    let shared = Rc::new(RefCell::new(Shared {
        control: VecDeque::new(),
        control_bytes: 0,
        mode: Mode::Control,
        handoff: None,
        last: after,
        live: None,
        body_waker: None,
        session_waker: None,
        session_gone: false,
        body_gone: false,
    }));
    let body = Body {
        shared: shared.clone(),
        codec: Codec::new(),
        buf: BytesMut::new(),
        metrics: BodyMetrics {
            frames_sent: metrics.frames_sent.clone(),
            outcome_frames_sent: metrics.outcome_frames_sent.clone(),
            commit_to_send: metrics.commit_to_send.clone(),
        },
        closed: false,
    };
    (Outbox { shared }, body)
}

impl Outbox {
    /// The last event seq queued or written on this socket.
    pub(crate) fn last(&self) -> i64 {
        self.shared.borrow().last
    }

    /// Gives the body the socket's live queue (framed once `go_live`).
    pub(crate) fn attach(&self, live: mpsc::Receiver<Delivery>) {
        self.shared.borrow_mut().live = Some(live);
    }

    /// Queues a frame whatever the backlog (pings, pongs and closes are tiny,
    /// and a close must get through).
    pub(crate) fn push(&self, out: Out) {
        let mut shared = self.shared.borrow_mut();
        if matches!(out, Out::Close { .. }) {
            // Nothing live after a close.
            shared.live = None;
            shared.mode = Mode::Control;
        }
        shared.control_bytes += out.len();
        shared.control.push_back(out);
        shared.wake_body();
    }

    /// Queues event `seq`'s frame (after the client took enough of the
    /// backlog, within `timeout`) and moves `last` to it.
    pub(crate) async fn send_event(
        &self,
        seq: i64,
        text: ByteString,
        timeout: Duration,
    ) -> Result<(), Refused> {
        self.send(Out::Event(text), timeout).await?;
        self.shared.borrow_mut().last = seq;
        Ok(())
    }

    /// Queues a frame once the backlog leaves room for it, within `timeout`.
    pub(crate) async fn send(&self, out: Out, timeout: Duration) -> Result<(), Refused> {
        let len = out.len();
        let room = || {
            poll_fn(|cx| {
                let mut shared = self.shared.borrow_mut();
                if shared.body_gone {
                    Poll::Ready(Err(Refused::Gone))
                } else if shared.control.is_empty() || shared.control_bytes + len <= CONTROL_LIMIT {
                    Poll::Ready(Ok(()))
                } else {
                    shared_waker(&mut shared.session_waker, cx);
                    Poll::Pending
                }
            })
        };
        // Only a full backlog needs a timer.
        match futures_util::FutureExt::now_or_never(room()) {
            Some(ready) => ready?,
            None => tokio::time::timeout(timeout, room())
                .await
                .map_err(|_| Refused::TooSlow)??,
        }
        self.push(out);
        Ok(())
    }

    /// From now on the body frames live batches itself.
    pub(crate) fn go_live(&self) {
        let mut shared = self.shared.borrow_mut();
        if shared.live.is_some() {
            shared.mode = Mode::Live;
            shared.wake_body();
        }
    }

    /// Waits for what the body could not frame itself; `go_live` again after
    /// dealing with it.
    pub(crate) async fn handoff(&self) -> Handoff {
        poll_fn(|cx| {
            let mut shared = self.shared.borrow_mut();
            match shared.handoff.take() {
                Some(handoff) => Poll::Ready(handoff),
                None => {
                    shared_waker(&mut shared.session_waker, cx);
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.session_gone = true;
        // The queue goes with the session (the hub forgets the socket).
        shared.live = None;
        shared.wake_body();
    }
}

impl Body {
    fn frame(&mut self, message: Message) -> Result<(), actix_web::Error> {
        self.codec
            .encode(message, &mut self.buf)
            .map_err(actix_web::Error::from)
    }

    /// Frames the control queue, in order (up to and including a close).
    fn frame_control(&mut self) -> Result<(), actix_web::Error> {
        let shared = self.shared.clone();
        let mut shared = shared.borrow_mut();
        let mut took = false;
        while let Some(out) = shared.control.pop_front() {
            took = true;
            shared.control_bytes -= out.len();
            match out {
                Out::Event(text) => {
                    self.frame(Message::Text(text))?;
                    self.metrics.frames_sent.inc();
                }
                Out::Text(text) => self.frame(Message::Text(text))?,
                Out::Ping => self.frame(Message::Ping(Bytes::new()))?,
                Out::Pong(bytes) => self.frame(Message::Pong(bytes))?,
                Out::Close { code, why, resume } => {
                    let description = if resume {
                        wire::resume_hint(&why, shared.last)
                    } else {
                        why
                    };
                    self.frame(Message::Close(Some(CloseReason {
                        code: CloseCode::Other(code),
                        description: Some(description),
                    })))?;
                    self.closed = true;
                    shared.control.clear();
                    shared.control_bytes = 0;
                    shared.live = None;
                    break;
                }
            }
        }
        if took {
            shared.wake_session();
        }
        Ok(())
    }

    /// Frames live batches while the connection has room and nothing needs
    /// the session; registers for the next batch otherwise.
    fn frame_live(&mut self, cx: &mut Context<'_>) -> Result<(), actix_web::Error> {
        let shared = self.shared.clone();
        let mut shared = shared.borrow_mut();
        let mut frames = 0;
        let mut now = None;
        while shared.mode == Mode::Live && self.buf.len() < CHUNK {
            let Some(live) = shared.live.as_mut() else {
                break;
            };
            let delivery = match live.poll_recv(cx) {
                Poll::Ready(Some(delivery)) => delivery,
                Poll::Ready(None) => {
                    shared.live = None;
                    shared.hand_off(Handoff::Ended);
                    break;
                }
                Poll::Pending => break,
            };
            match delivery {
                Delivery::Events(batch) => {
                    if batch.first().is_some_and(|f| f.seq > shared.last + 1) {
                        shared.hand_off(Handoff::Delivery(Delivery::Events(batch)));
                        break;
                    }
                    let now = *now.get_or_insert_with(chrono::Utc::now);
                    for frame in batch.iter() {
                        if frame.seq == shared.last + 1 {
                            self.frame(Message::Text(frame.text.clone()))?;
                            shared.last = frame.seq;
                            frames += 1;
                            observe_lag(&self.metrics.commit_to_send, now, frame.committed_at);
                        }
                    }
                }
                Delivery::Outcomes(outcomes) => {
                    let out = outcomes
                        .iter()
                        .take_while(|o| o.last_seq <= shared.last)
                        .count();
                    for outcome in &outcomes[..out] {
                        self.frame(Message::Text(outcome.text.clone()))?;
                        self.metrics.outcome_frames_sent.inc();
                    }
                    if out < outcomes.len() {
                        // Their events are read from the table first.
                        let rest: Vec<Arc<Outcome>> = outcomes[out..].to_vec();
                        shared.hand_off(Handoff::Delivery(Delivery::Outcomes(Arc::new(rest))));
                        break;
                    }
                }
            }
        }
        if frames > 0 {
            self.metrics.frames_sent.inc_by(frames);
        }
        Ok(())
    }
}

impl Stream for Body {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if !this.closed {
            if let Err(e) = this.frame_control() {
                return Poll::Ready(Some(Err(e)));
            }
        }
        if !this.closed {
            if let Err(e) = this.frame_live(cx) {
                return Poll::Ready(Some(Err(e)));
            }
        }
        if !this.buf.is_empty() {
            // Taken whole: an idle socket keeps no buffer.
            return Poll::Ready(Some(Ok(std::mem::take(&mut this.buf).freeze())));
        }
        let mut shared = this.shared.borrow_mut();
        if this.closed || (shared.session_gone && shared.control.is_empty()) {
            return Poll::Ready(None);
        }
        shared_waker(&mut shared.body_waker, cx);
        Poll::Pending
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        let mut shared = self.shared.borrow_mut();
        shared.body_gone = true;
        shared.wake_session();
    }
}

/// Commit -> send lag of a live frame (clocks of the database and this host;
/// a negative skew counts as zero).
pub(crate) fn observe_lag(
    commit_to_send: &prometheus::Histogram,
    now: chrono::DateTime<chrono::Utc>,
    committed_at: chrono::DateTime<chrono::Utc>,
) {
    let lag = (now - committed_at).to_std().unwrap_or(Duration::ZERO);
    commit_to_send.observe(lag.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use std::task::Context;

    use actix_codec::Decoder;
    use actix_http::ws::Frame;
    use futures_util::StreamExt;

    use super::*;
    use crate::hub::Frame as EventFrame;

    const WAIT: Duration = Duration::from_secs(1);

    fn batch(seqs: &[i64]) -> Delivery {
        Delivery::Events(Arc::new(
            seqs.iter()
                .map(|&seq| EventFrame {
                    seq,
                    committed_at: chrono::Utc::now(),
                    text: format!("e{seq}").into(),
                })
                .collect(),
        ))
    }

    fn outcomes(last_seqs: &[i64]) -> Delivery {
        Delivery::Outcomes(Arc::new(
            last_seqs
                .iter()
                .map(|&last_seq| {
                    Arc::new(Outcome {
                        last_seq,
                        text: format!("o{last_seq}").into(),
                    })
                })
                .collect(),
        ))
    }

    /// Polls the body until it waits or ends: the frames it wrote, as text
    /// (`close CODE REASON` for a close), and whether it ended.
    fn written(body: &mut Body) -> (Vec<String>, bool) {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut bytes = BytesMut::new();
        let ended = loop {
            match body.poll_next_unpin(&mut cx) {
                Poll::Ready(Some(Ok(chunk))) => bytes.extend_from_slice(&chunk),
                Poll::Ready(Some(Err(e))) => panic!("{e}"),
                Poll::Ready(None) => break true,
                Poll::Pending => break false,
            }
        };
        let mut client = Codec::new().client_mode();
        let mut frames = Vec::new();
        while let Some(frame) = client.decode(&mut bytes).unwrap() {
            frames.push(match frame {
                Frame::Text(text) => String::from_utf8(text.to_vec()).unwrap(),
                Frame::Ping(_) => "ping".into(),
                Frame::Pong(_) => "pong".into(),
                Frame::Close(Some(reason)) => format!(
                    "close {} {}",
                    u16::from(reason.code),
                    reason.description.unwrap_or_default()
                ),
                other => format!("{other:?}"),
            });
        }
        (frames, ended)
    }

    fn live_socket(after: i64) -> (Outbox, Body, mpsc::Sender<Delivery>) {
        let metrics = RealtimeMetrics::new().unwrap();
        let (outbox, body) = pair(after, &metrics);
        let (queue, live) = mpsc::channel(8);
        outbox.attach(live);
        (outbox, body, queue)
    }

    #[tokio::test]
    async fn catch_up_and_ready_go_first_then_live_batches_once_each_in_seq_order() {
        let (outbox, mut body, queue) = live_socket(0);
        // A live batch queued during the catch-up overlaps it.
        queue.try_send(batch(&[2, 3])).unwrap();
        for seq in 1..=2 {
            outbox
                .send_event(seq, format!("e{seq}").into(), WAIT)
                .await
                .unwrap();
        }
        outbox.send(Out::Text("ready".into()), WAIT).await.unwrap();
        let (frames, _) = written(&mut body);
        assert_eq!(frames, ["e1", "e2", "ready"], "nothing live before go_live");
        outbox.go_live();
        queue.try_send(batch(&[4])).unwrap();
        let (frames, ended) = written(&mut body);
        assert_eq!(frames, ["e3", "e4"]);
        assert!(!ended);
        assert_eq!(outbox.last(), 4);
    }

    #[tokio::test]
    async fn a_gap_or_an_outcome_ahead_of_its_events_is_handed_to_the_session_in_order() {
        let (outbox, mut body, queue) = live_socket(1);
        outbox.go_live();
        queue.try_send(outcomes(&[1])).unwrap();
        queue.try_send(batch(&[3])).unwrap();
        queue.try_send(batch(&[4])).unwrap();
        let (frames, _) = written(&mut body);
        assert_eq!(
            frames,
            ["o1"],
            "an outcome whose events are out goes at once"
        );
        // Seq 2 is missing: the session reads it, sends both, goes live again.
        let Some(Handoff::Delivery(Delivery::Events(gap))) =
            futures_util::FutureExt::now_or_never(outbox.handoff())
        else {
            panic!("the batch after a gap is handed over");
        };
        assert_eq!(gap[0].seq, 3);
        outbox.send_event(2, "e2".into(), WAIT).await.unwrap();
        outbox.send_event(3, "e3".into(), WAIT).await.unwrap();
        outbox.go_live();
        queue.try_send(outcomes(&[4, 6])).unwrap();
        let (frames, _) = written(&mut body);
        assert_eq!(frames, ["e2", "e3", "e4", "o4"]);
        // o6 waits for events 5 and 6, which the session reads first.
        let Some(Handoff::Delivery(Delivery::Outcomes(rest))) =
            futures_util::FutureExt::now_or_never(outbox.handoff())
        else {
            panic!("an outcome ahead of its events is handed over");
        };
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].last_seq, 6);
    }

    #[tokio::test]
    async fn a_close_names_the_last_event_written_and_nothing_follows_it() {
        let (outbox, mut body, queue) = live_socket(0);
        outbox.go_live();
        queue.try_send(batch(&[1, 2])).unwrap();
        outbox.push(Out::Close {
            code: 4001,
            why: "token expired".into(),
            resume: true,
        });
        queue.try_send(batch(&[3])).ok();
        let (frames, ended) = written(&mut body);
        // The close was queued before the body framed 1 and 2: it names 0.
        assert_eq!(frames, ["close 4001 token expired; reconnect with after=0"]);
        assert!(ended, "the body ends after the close");
    }

    #[tokio::test]
    async fn the_end_of_the_queue_is_handed_to_the_session_and_a_gone_session_ends_the_body() {
        let (outbox, mut body, queue) = live_socket(0);
        outbox.go_live();
        queue.try_send(batch(&[1])).unwrap();
        drop(queue);
        let (frames, ended) = written(&mut body);
        assert_eq!(frames, ["e1"]);
        assert!(!ended);
        assert!(matches!(
            futures_util::FutureExt::now_or_never(outbox.handoff()),
            Some(Handoff::Ended)
        ));
        drop(outbox);
        assert_eq!(written(&mut body), (vec![], true));
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_makes_the_sessions_sends_time_out() {
        let (outbox, body, _queue) = live_socket(0);
        let big: ByteString = "x".repeat(CONTROL_LIMIT).into();
        outbox.send(Out::Text(big.clone()), WAIT).await.unwrap();
        let refused = outbox
            .send(Out::Text(big), Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(matches!(refused, Refused::TooSlow));
        drop(body);
        let gone = outbox.send(Out::Ping, WAIT).await.unwrap_err();
        assert!(matches!(gone, Refused::Gone));
    }
}
