//! Supporters, the domain: the email subscriptions (subscribe, confirm,
//! unsubscribe, forget, erasure by staff) and the one double opt-in
//! ([`opt_in`]) that subscriptions and letters' signatures share: one
//! decision, one token scheme, one per-address budget of confirmation
//! emails, one clean-up of requests never confirmed.
//!
//! It writes `contacts` for the email channel (the bot writes its own
//! Telegram contacts through the front until that moves here) and spends
//! the `confirm:email` budget in `rate_limits`.
//!
//! What it must never do: import a service, send anything itself (the
//! notifier sends the links, told by the outbox), or log, or put in an
//! error, an address or a token: ids only. A subscription request answers
//! the same whatever the address's state.

pub mod contacts;
pub mod opt_in;
pub mod regions;
pub mod subscriptions;
