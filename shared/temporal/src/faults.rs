//! Test-only switches for the lifecycle steps: fail a step, or hold it until
//! released (to cancel or update "at" a step). Compiled only with the
//! `test-faults` cargo feature, which only the worker's dev-dependencies
//! enable: a release build (`cargo build --release`, the Dockerfile) cannot
//! contain it, and no setting or request reaches it. The switches are keyed
//! by tenant and live in the test process (in-process workers); the worker
//! binary reads `KITCHEN_TEST_STEP_DELAY_MS` (same feature) to slow every
//! step, so a test can kill it mid-saga.

use kitchen_domain::platform::Step;
use kitchen_domain::TenantId;

#[cfg(feature = "test-faults")]
mod switches {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[derive(Default)]
    struct Switches {
        fail: HashMap<TenantId, Step>,
        hold: HashMap<TenantId, Step>,
        holding: HashMap<TenantId, Step>,
    }

    static SWITCHES: Mutex<Option<Switches>> = Mutex::new(None);

    fn with<R>(f: impl FnOnce(&mut Switches) -> R) -> R {
        let mut guard = SWITCHES.lock().unwrap_or_else(|e| e.into_inner());
        f(guard.get_or_insert_with(Switches::default))
    }

    /// `step` of `tenant` fails (final) when it runs.
    pub fn fail_at(tenant: TenantId, step: Step) {
        with(|s| s.fail.insert(tenant, step));
    }

    /// `step` of `tenant` waits, when it starts, until [`release`].
    pub fn hold_at(tenant: TenantId, step: Step) {
        with(|s| s.hold.insert(tenant, step));
    }

    /// The step of `tenant` now held, if any.
    pub fn holding(tenant: TenantId) -> Option<Step> {
        with(|s| s.holding.get(&tenant).copied())
    }

    pub fn release(tenant: TenantId) {
        with(|s| s.hold.remove(&tenant));
    }

    pub(crate) async fn before_step(tenant: TenantId, step: Step) -> Result<(), String> {
        if let Ok(ms) = std::env::var("KITCHEN_TEST_STEP_DELAY_MS") {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        for _ in 0..600 {
            let held = with(|s| {
                let held = s.hold.get(&tenant) == Some(&step);
                if held {
                    s.holding.insert(tenant, step);
                } else if s.holding.get(&tenant) == Some(&step) {
                    s.holding.remove(&tenant);
                }
                held
            });
            if !held {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if with(|s| s.fail.get(&tenant) == Some(&step)) {
            return Err(format!("injected fault at {}", step.name()));
        }
        Ok(())
    }
}

#[cfg(feature = "test-faults")]
pub use switches::{fail_at, hold_at, holding, release};

/// Runs before each provisioning step: `Err(reason)` fails it. A no-op
/// without the `test-faults` feature.
pub(crate) async fn before_step(tenant: TenantId, step: Step) -> Result<(), String> {
    #[cfg(feature = "test-faults")]
    return switches::before_step(tenant, step).await;
    #[cfg(not(feature = "test-faults"))]
    {
        let _ = (tenant, step);
        Ok(())
    }
}
