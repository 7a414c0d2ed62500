//! Shutdown is a parameter of every long-running loop (STYLE.md): each `main`
//! creates one [`Shutdown`] from SIGINT/SIGTERM and hands clones to the HTTP
//! servers, LISTEN loops, the pump, the realtime hub and sockets, and the
//! worker. One mechanism, so a service drains the same way everywhere, and tests
//! trigger it in-process without sending signals.
//!
//! It wraps `tokio_util::sync::CancellationToken` rather than a
//! `watch::Sender<bool>`: waiting needs no `&mut` receiver, a wait that starts
//! after the trigger still returns at once, and an owned, `'static` wait future
//! (for tasks and the Temporal worker) comes for free.

use std::future::Future;

use tokio_util::sync::CancellationToken;

/// A process-wide stop request. Cheap to clone; every clone sees the trigger.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::trigger`] fires (tests, or nested
    /// components stopped by their owner).
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// A shutdown fired by SIGINT (Ctrl-C) or SIGTERM. The handlers are
    /// installed before this returns, so a signal that arrives while the
    /// service is still starting is not lost (nor kills it with the default
    /// action); call it first thing in `main`, inside the runtime.
    pub fn on_signals() -> std::io::Result<Shutdown> {
        let shutdown = Shutdown::new();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = name, "shutdown signal received; draining");
                trigger.trigger();
            });
        }
        #[cfg(not(unix))]
        {
            let trigger = shutdown.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    tracing::info!(signal = "ctrl-c", "shutdown signal received; draining");
                    trigger.trigger();
                }
            });
        }
        Ok(shutdown)
    }

    /// Asks every holder to stop. Idempotent.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether shutdown was requested (for loops that check between steps).
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown is requested (at once if it already was).
    /// Cancel-safe: use it as a `select!` branch.
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }

    /// As [`Shutdown::wait`], owning its clone: for `'static` tasks and APIs
    /// that take a future.
    pub fn wait_owned(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }

    /// Stops `server` gracefully once shutdown fires: it stops accepting, and
    /// requests in flight finish within its `shutdown_timeout`. Build the
    /// server with `disable_signals()`, so this is its only way to stop
    /// (actix's own handlers would race with ours).
    pub fn stop_server(&self, server: &actix_web::dev::Server) {
        let handle = server.handle();
        let shutdown = self.wait_owned();
        tokio::spawn(async move {
            shutdown.await;
            handle.stop(true).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_trigger_even_one_that_waits_later() {
        let shutdown = Shutdown::new();
        let waiter = tokio::spawn(shutdown.wait_owned());
        assert!(!shutdown.is_triggered());
        shutdown.clone().trigger();
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the waiter wakes")
            .unwrap();
        // A wait that starts after the trigger returns at once.
        tokio::time::timeout(std::time::Duration::from_millis(10), shutdown.wait())
            .await
            .expect("already triggered");
        assert!(shutdown.is_triggered());
    }
}
