//! Cases: a person asks the organisation for something and staff answer.
//! Appeals (the web form, a lawyer's follow-up: [`appeals`]) and
//! consultations (the bot and `/talk`) share their core here: case numbers
//! and access codes ([`code`]), the consultations' sealed store
//! ([`consultations`]) and the consultants' reply queue ([`replies`]),
//! whose rows the front queues and
//! the notifier's sender claims and settles — one crate writes
//! `conversation_messages`, whichever service runs it.
//!
//! Must never: log more than ids, store a chat id or a message unsealed,
//! or send a reply twice (`unknown` after a crash, never resent).

pub mod appeals;
pub mod code;
pub mod consultations;
pub mod replies;
pub mod retention;
pub mod staff;
