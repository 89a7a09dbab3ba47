//! Campaigns, the domain: a campaign's model and templates (rendered for
//! email and Telegram under the template limits), its schedule (cron, once,
//! an awareness day, a series of posts), the organisers' input with its
//! checks ([`input`]), and the life cycle ([`lifecycle`]: draft ->
//! approved, pause / resume / cancel, test sends).
//!
//! It writes `campaigns` (and `campaign_test_sends`); the scheduler reads
//! it to fire occurrences, the notifier to fan out and compose.
//!
//! What it must never do: import a service, send anything itself (the
//! scheduler and the notifier do, told by the outbox), or resolve an
//! audience to people here: an audience is topics, regions, languages and
//! channels, never a list of contacts.

mod campaign;
pub mod input;
pub mod lifecycle;
pub mod schedule;
pub mod series;

pub use campaign::*;
