//! Appeals: patients and people who use drugs report a problem (no OST in
//! hospital, take-home doses refused, police, discrimination...),
//! anonymously by default. This crate owns the tables (run by front): it
//! stores the appeal sealed under its own data key, answers with a case
//! number and a secret access code ([`crate::code`], shared with
//! conversations), lets caseworkers handle the case, keeps anonymised
//! counts, and erases closed appeals after the retention period.
//!
//! What it must never do: store or log an IP address, put an appeal's text
//! or contact in a log line, an event, an audit row or an error message, or
//! answer a wrong (case number, access code) pair differently from another
//! wrong pair.

pub mod model;
pub mod retention;
pub mod sites;
pub mod staff;
pub mod stats;
pub mod store;
pub mod stored;

pub use model::{ContactInput, Input, Invalid, Valid};
