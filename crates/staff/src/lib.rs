//! Staff, the domain: the people and tokens that act on the system and
//! what is recorded of their acts. Console users ([`users`]: argon2id
//! passwords hashed off the async threads, the per-user lock-out, sealed
//! addresses and TOTP secrets), their sessions ([`sessions`]), the TOTP
//! codes ([`totp`], RFC 6238), the per-address sign-in back-off
//! ([`throttle`]), admin API tokens, roles and principals, and the audit
//! log ([`auth`]); the associated data of sealed console fields that the
//! notifier shares ([`console`]).
//!
//! It writes `console_users`, `console_sessions`, `admin_tokens` and
//! `audit_log`. The HTTP side (the session cookie, the sign-in pages, the
//! one CSRF scheme) is the front's.
//!
//! What it must never do: import a service, log or put in an error or an
//! audit row a password, a secret, a token or an address; compare secrets
//! with `==` (`nasvyazi_crypto::ct_eq`).

pub mod auth;
pub mod console;
pub mod sessions;
pub mod throttle;
pub mod totp;
pub mod users;
