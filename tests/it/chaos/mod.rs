//! Chaos tests: real processes and real servers on loopback (a private
//! three-node NATS cluster, a private PostgreSQL, real `nasvyazi`
//! processes, the loopback SMTP server), killed and restarted on purpose.
//! See `tests/src/cluster.rs`. The default sizes keep `just test` short;
//! `just chaos` sets `NASVYAZI_CHAOS_FULL=1` for the sizes.

mod campaigns;
mod letters;
mod load;
mod streams;

use std::time::Duration;

/// Whether to run at full size (`NASVYAZI_CHAOS_FULL=1`, `just chaos`).
pub fn full() -> bool {
    std::env::var("NASVYAZI_CHAOS_FULL").is_ok_and(|v| v == "1")
}

/// Polls `f` until it returns `Some`, for at most `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    nasvyazi_tests::eventually(timeout, f).await
}
