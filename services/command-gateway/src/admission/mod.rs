//! Whether a new command may come in at all, before its body is read: the
//! tenant's rate (`rate`, per gateway instance) and the platform's load
//! (`overload`, read from PostgreSQL). The tenant's open-command bound is the
//! insert's own (`PgCommandQueue::with_open_limit`), so it holds across
//! replicas.

pub(crate) mod overload;
pub(crate) mod rate;
pub(crate) mod refusal_delay;

pub(crate) use overload::LoadGauge;
pub(crate) use rate::CommandRate;
pub(crate) use refusal_delay::RefusalDelay;
