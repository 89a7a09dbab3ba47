//! The domain commons still shared by front and the notifier while the
//! domain crates are carved out of them (issue 25): appeals' and
//! contacts' sealed fields, campaigns and their schedules, the
//! reference data (regions, topics). Small-cell
//! suppression is `nasvyazi-disclosure`, survey tokens `nasvyazi-surveys`, letters
//! `nasvyazi-letters`.
//! The platform, crypto, mail and Telegram pieces live in their own crates
//! under `crates/` and are re-exported here under their old names.
//!
//! What it must never do: put personal data in an event body, a log line, a
//! metric label or an error message. Types here carry ids; personal values
//! live encrypted in PostgreSQL and are read by id.

pub mod appeals;
pub mod campaigns;
pub mod channel;
pub mod contacts;
pub mod regions;
pub mod rewrap;
pub mod schedule;
pub mod series;
pub mod template_limits;

pub use nasvyazi_crypto as crypto;
// Admin tokens, roles, the audit log and the console users' sealed
// fields' associated data are `nasvyazi-staff`'s.
pub use nasvyazi_mail as email;
pub use nasvyazi_platform::{
    Config, Infra, config, consumer, csv_cell, db, error, events, http, i18n, lease, limits, nats,
    observe, openapi, outbox, shutdown, startup, telemetry,
};
pub use nasvyazi_staff::{auth, console};
pub use nasvyazi_telegram as telegram;
// Office hours (consultations); the letters reached them through
// `letters::hours` before the letters moved to their own crate.
pub use nasvyazi_platform::hours;
