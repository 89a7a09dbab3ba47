//! Appeals at the front door: the domain (model, store, staff actions,
//! sites, counts, retention) is `nasvyazi_cases::appeals`; what stays here
//! is the HTTP side, the per-client rate limit of the public form.
//!
//! What it must never do: store or log an IP address.

pub mod ratelimit;

pub use nasvyazi_cases::appeals::{model, retention, sites, staff, stats, store};

pub use model::{ContactInput, Input, Invalid, Valid};
pub use ratelimit::{AppealRateLimit, ClientAddr, Purpose};
