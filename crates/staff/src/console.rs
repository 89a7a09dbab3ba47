//! What front (which writes them) and the notifier (which sends sign-in
//! links) agree on about console users and their sign-in links: the blind
//! index kind of a user's address and the associated data of sealed fields.
//! Nothing here reads or logs an address or a token.

use uuid::Uuid;

/// The blind-index kind of a console user's address (a domain of its own:
/// console users cannot be joined with supporters or appellants).
pub const USER_BLIND_KIND: &str = "console_user";

/// Associated data of a sealed console-user field (`email`, `totp`).
pub fn user_aad(user_id: Uuid, field: &str) -> Vec<u8> {
    format!("console_user:{user_id}:{field}").into_bytes()
}

/// Associated data of a sealed sign-in link token (under the user's key).
pub fn link_aad(link_id: Uuid) -> Vec<u8> {
    format!("console_link:{link_id}:token").into_bytes()
}
