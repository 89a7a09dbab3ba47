//! What every service shares: the platform (config, database, NATS,
//! outbox, consumers, errors, i18n, telemetry), crypto, mail, Telegram and
//! staff crates re-exported under one name, and the one list that spans
//! every domain's tables: the wrapped data keys a master-key rotation
//! re-wraps ([`rewrap`]). The domains are crates of their own
//! (`nasvyazi-supporters`, `-campaigns`, `-letters`, `-cases`, `-surveys`,
//! `-media`); services import them directly, and no domain crate imports
//! this one.
//!
//! What it must never do: put personal data in an event body, a log line, a
//! metric label or an error message. Types here carry ids; personal values
//! live encrypted in PostgreSQL and are read by id.

pub mod rewrap;

pub use nasvyazi_crypto as crypto;
// Admin tokens, roles, the audit log and the console users' sealed
// fields' associated data are `nasvyazi-staff`'s.
pub use nasvyazi_mail as email;
pub use nasvyazi_platform::{
    Config, Infra, config, consumer, csv_cell, db, error, events, hours, http, i18n, lease, limits,
    nats, observe, openapi, outbox, shutdown, startup, telemetry, template_limits,
};
pub use nasvyazi_staff::{auth, console};
pub use nasvyazi_telegram as telegram;
