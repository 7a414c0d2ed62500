//! The running platform as the tools that drive it from outside (the bench,
//! the fault drill) need it: a service's readiness, and a household
//! provisioned through the platform API until it is active.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kitchen_domain::TenantId;
use serde_json::Value;

/// Polls `{base}/readyz` every 50 ms until it answers 200 (true) or
/// `timeout` passes, or `gave_up` says the process is gone (false).
pub async fn until_ready(
    http: &reqwest::Client,
    base: &str,
    timeout: Duration,
    mut gave_up: impl FnMut() -> bool,
) -> bool {
    let url = format!("{base}/readyz");
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = http.get(&url).send().await {
            if r.status().is_success() {
                return true;
            }
        }
        if gave_up() || Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// POSTs `household` to `{gateway}/v1/tenants` with the platform `token`,
/// then reads `GET /v1/tenants/{id}` every `poll` until it is `active`. An
/// error if the POST is not answered 202, or the tenant ends in another
/// state or is not active within `timeout`.
pub async fn provision(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
    household: &Value,
    poll: Duration,
    timeout: Duration,
) -> anyhow::Result<TenantId> {
    let started = Instant::now();
    let posted = http
        .post(format!("{gateway}/v1/tenants"))
        .bearer_auth(token)
        .json(household)
        .send()
        .await?;
    if posted.status().as_u16() != 202 {
        bail!(
            "POST /v1/tenants: {} {}",
            posted.status(),
            posted.text().await?
        );
    }
    let accepted: Value = posted.json().await?;
    let id: uuid::Uuid = accepted["tenantId"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .with_context(|| format!("no tenantId in {accepted}"))?;
    let url = format!("{gateway}/v1/tenants/{id}");
    loop {
        let view: Value = http
            .get(&url)
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        match view["status"].as_str() {
            Some("active") => return Ok(TenantId::from_uuid(id)?),
            Some("provisioning") | Some("pending") | None => {}
            Some(other) => bail!("tenant {id} ended {other}: {view}"),
        }
        if started.elapsed() > timeout {
            bail!("tenant {id} not active within {timeout:?}: {view}");
        }
        tokio::time::sleep(poll).await;
    }
}
