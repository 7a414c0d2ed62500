//! Binding and running an HTTP server the same way in every service: bound
//! before it runs (so port 0 gives a known free port, and `main` can log the
//! address), actix's own signal handlers off, stopped gracefully by our one
//! [`Shutdown`], requests in flight given a bounded drain time.

use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_http::Request;
use actix_service::{IntoServiceFactory, Service};
use actix_web::body::MessageBody;
use actix_web::dev::{AppConfig, Response, Server, ServiceFactory};
use actix_web::{Error, HttpServer};

use crate::shutdown::Shutdown;

/// Where and how a server listens.
#[derive(Debug, Clone)]
pub struct Listen<'a> {
    /// The service's name, for its log lines.
    pub service: &'static str,
    pub host: &'a str,
    /// 0 picks a free port.
    pub port: u16,
    /// How long requests (and sockets) in flight get to finish once shutdown
    /// fires; keep it well inside the 10 s a service has to exit.
    pub drain: Duration,
    /// Worker threads; `None`: one per core (actix's default).
    pub workers: Option<usize>,
}

/// A server bound to its address, not yet running.
pub struct BoundServer {
    service: &'static str,
    address: SocketAddr,
    server: Server,
}

impl fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer")
            .field("service", &self.service)
            .field("address", &self.address)
            .finish()
    }
}

impl BoundServer {
    /// Binds `listen.host:listen.port` and builds the server from `app` (an
    /// actix `App` factory, as for `HttpServer::new`). It stops accepting once
    /// `shutdown` fires and then drains for at most `listen.drain`.
    pub fn bind<F, I, S, B>(
        listen: &Listen<'_>,
        shutdown: &Shutdown,
        app: F,
    ) -> std::io::Result<Self>
    where
        F: Fn() -> I + Send + Clone + 'static,
        I: IntoServiceFactory<S, Request>,
        S: ServiceFactory<Request, Config = AppConfig> + 'static,
        S::Error: Into<Error> + 'static,
        S::InitError: fmt::Debug,
        S::Response: Into<Response<B>> + 'static,
        <S::Service as Service<Request>>::Future: 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        let listener = TcpListener::bind((listen.host, listen.port))?;
        let address = listener.local_addr()?;
        let mut server = HttpServer::new(app);
        if let Some(workers) = listen.workers {
            server = server.workers(workers);
        }
        let server = server
            .listen(listener)?
            // Our `Shutdown` is the only way to stop it: actix's handlers
            // would race with ours.
            .disable_signals()
            .shutdown_timeout(listen.drain.as_secs().max(1))
            .run();
        shutdown.stop_server(&server);
        Ok(BoundServer {
            service: listen.service,
            address,
            server,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Serves until the shutdown given to [`BoundServer::bind`] fires and the
    /// requests in flight are done (or the drain time is up).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await?;
        tracing::info!(service = self.service, "server stopped");
        Ok(())
    }

    /// Runs the server on a task of the current runtime and returns its
    /// address: for tests, and for services that serve beside other work.
    pub fn spawn(self) -> SocketAddr {
        let address = self.address;
        let service = self.service;
        tokio::spawn(async move {
            if let Err(e) = self.run_until_stopped().await {
                tracing::error!(service, error = %e, "server failed");
            }
        });
        address
    }
}
