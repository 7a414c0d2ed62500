//! Live sockets per tenant (`quotas.max_sockets`), counted by this realtime
//! instance on its own: N instances admit up to N times the bound. Past it the
//! upgrade is refused with 429 `tenant_socket_limit` (nothing is opened).
//! A permit is held for the socket's whole life and given back on drop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use kitchen_domain::TenantId;

#[derive(Clone, Debug, Default)]
pub(crate) struct SocketQuota {
    /// `0`: no bound.
    max: usize,
    open: Arc<Mutex<HashMap<TenantId, usize>>>,
}

/// One open socket of `tenant`; dropping it frees its place.
#[derive(Debug)]
pub(crate) struct SocketPermit {
    quota: SocketQuota,
    tenant: TenantId,
}

impl SocketQuota {
    pub(crate) fn new(max: u32) -> Self {
        Self {
            max: max as usize,
            open: Arc::default(),
        }
    }

    fn open(&self) -> MutexGuard<'_, HashMap<TenantId, usize>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for one more socket of `tenant`, or `None` at the bound.
    pub(crate) fn try_open(&self, tenant: TenantId) -> Option<SocketPermit> {
        let mut open = self.open();
        let count = open.entry(tenant).or_default();
        if self.max > 0 && *count >= self.max {
            if *count == 0 {
                open.remove(&tenant);
            }
            return None;
        }
        *count += 1;
        Some(SocketPermit {
            quota: self.clone(),
            tenant,
        })
    }
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let mut open = self.quota.open();
        if let Some(count) = open.get_mut(&self.tenant) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.tenant);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_its_bound_another_tenant_its_own_and_a_closed_socket_frees_a_place() {
        let quota = SocketQuota::new(2);
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        let first = quota.try_open(a).unwrap();
        let _second = quota.try_open(a).unwrap();
        assert!(quota.try_open(a).is_none());
        assert!(quota.try_open(b).is_some());
        drop(first);
        assert!(quota.try_open(a).is_some());
    }

    #[test]
    fn the_map_forgets_tenants_with_no_socket() {
        let quota = SocketQuota::new(0);
        let tenant = TenantId::new_random();
        let permits: Vec<_> = (0..1000).map(|_| quota.try_open(tenant).unwrap()).collect();
        drop(permits);
        assert!(quota.open().is_empty());
    }
}
