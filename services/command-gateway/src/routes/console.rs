//! The household console (a single-page app built into static files) served
//! under `/console/` when `gateway.console_dir` names its directory, and
//! `GET /console/config.json`, which tells the page where the gateway and
//! realtime are (`gateway.public_url`, `realtime.public_url`; unset: derived
//! from the host the page was loaded from). Any other path under `/console/`
//! that is not a file answers `index.html`: the app routes it.

use std::path::{Path, PathBuf};

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use kitchen_adapters::config::Settings;
use serde::Serialize;

/// Where the console finds the services (`GET /console/config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConsoleConfig {
    pub(crate) gateway_url: String,
    pub(crate) realtime_url: String,
}

/// The settings `config.json` is made from (per request when a URL is unset).
#[derive(Debug, Clone)]
pub(crate) struct ConsoleSettings {
    gateway_url: Option<String>,
    realtime_url: Option<String>,
    realtime_port: u16,
}

impl ConsoleSettings {
    pub(crate) fn new(settings: &Settings) -> Self {
        let set = |url: &Option<String>| {
            url.as_deref()
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty())
        };
        Self {
            gateway_url: set(&settings.gateway.public_url),
            realtime_url: set(&settings.realtime.public_url),
            realtime_port: settings.realtime.port,
        }
    }

    /// The URLs for a page loaded through `req`.
    fn for_request(&self, req: &HttpRequest) -> ConsoleConfig {
        let info = req.connection_info();
        let (scheme, host) = (info.scheme(), info.host());
        let hostname = host_without_port(host);
        let ws = if scheme == "https" { "wss" } else { "ws" };
        ConsoleConfig {
            gateway_url: self
                .gateway_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{host}")),
            realtime_url: self
                .realtime_url
                .clone()
                .unwrap_or_else(|| format!("{ws}://{hostname}:{}", self.realtime_port)),
        }
    }
}

/// `host[:port]` or `[v6][:port]` without the port.
fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

pub(crate) async fn config_json(
    req: HttpRequest,
    console: web::Data<ConsoleSettings>,
) -> HttpResponse {
    HttpResponse::Ok()
        // The URLs follow the settings: never cached across a restart.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(console.for_request(&req))
}

/// Why the console cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("gateway.console_dir {dir}: no index.html there (build the console: see README, \"Household console\")")]
pub(crate) struct ConsoleDirError {
    dir: String,
}

/// The checked console directory, if the setting names one.
pub(crate) fn console_dir(settings: &Settings) -> Result<Option<PathBuf>, ConsoleDirError> {
    let Some(dir) = settings
        .gateway
        .console_dir
        .as_ref()
        .filter(|d| !d.as_os_str().is_empty())
    else {
        return Ok(None);
    };
    if !dir.join("index.html").is_file() {
        return Err(ConsoleDirError {
            dir: dir.display().to_string(),
        });
    }
    Ok(Some(dir.clone()))
}

/// The static files of `dir` under `/console`, `index.html` for the rest.
pub(crate) fn files(dir: &Path) -> Files {
    let index = dir.join("index.html");
    Files::new("/console", dir)
        .index_file("index.html")
        .redirect_to_slash_directory()
        .default_handler(fn_service(move |req: ServiceRequest| {
            let index = index.clone();
            async move {
                let (req, _) = req.into_parts();
                let file = NamedFile::open_async(&index).await?;
                let response = file.into_response(&req);
                Ok(ServiceResponse::new(req, response))
            }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_cut_from_names_and_addresses() {
        assert_eq!(host_without_port("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_without_port("kitchen.example"), "kitchen.example");
        assert_eq!(host_without_port("[::1]:8080"), "[::1]");
    }
}
