//! Consultations' core: how a person and a message are sealed and found
//! again, the pseudonym staff see, conversation numbers and access codes,
//! and the store ([`store`]). The person is a pseudonym to staff («Гость
//! 7F3K»): never a name, username, phone or chat id; the chat id is sealed
//! under the person's own data key and found again by its blind index.

pub mod retention;
pub mod store;

use nasvyazi_crypto::Keyring;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::code::{self, random_chars};

/// The blind-index kind of a person's Telegram chat id (not the
/// subscribers' kind: being a subscriber and writing for help stay
/// unlinkable in a dump).
pub const CHAT_KIND: &str = "consultation";

/// The PostgreSQL channel an erasure wakes the clean-up on.
pub const CLEANUP_WAKE: &str = "staff_group_cleanup";

/// Associated data of a person's sealed chat id.
pub fn person_aad(person: Uuid) -> Vec<u8> {
    format!("consultation_person:{person}:chat").into_bytes()
}

/// Associated data of a message's sealed body or media.
pub fn message_aad(conversation: Uuid, message: Uuid, field: &str) -> Vec<u8> {
    format!("conversation:{conversation}:message:{message}:{field}").into_bytes()
}

/// The blind index of a chat id.
pub fn chat_index(keys: &Keyring, chat: i64) -> Vec<u8> {
    keys.blind_index(CHAT_KIND, &chat.to_string())
}

/// The pseudonym staff see: four characters from the person's blind index
/// (stable per person, meaningless without the key), or random for the web.
pub fn pseudonym(index: Option<&[u8]>) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
    let code: String = match index {
        Some(bytes) => bytes
            .iter()
            .take(4)
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
            .collect(),
        None => random_chars(4),
    };
    format!("Гость {code}")
}

/// A fresh conversation number: `NS-` and 8 random characters.
pub fn new_number() -> String {
    code::new_number("NS")
}

/// A typed number in its canonical form (`ns 7f3k9qx2` -> `NS-7F3K-9QX2`).
pub fn canonical_number(input: &str) -> Option<String> {
    code::canonical_number("NS", input)
}

/// A fresh access code for the web (16 characters in groups).
pub fn new_access_code() -> Zeroizing<String> {
    code::new_access_code()
}

/// The stored form of an access code: a keyed hash of its canonical form.
pub fn access_hash(keys: &Keyring, input: &str) -> Vec<u8> {
    code::access_hash(keys, "conversation_access", input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_pseudonyms() {
        let n = new_number();
        assert_eq!(canonical_number(&n.to_lowercase()), Some(n.clone()));
        assert_eq!(canonical_number("nope"), None);
        assert_eq!(pseudonym(Some(&[0, 1, 2, 3, 9])), "Гость 2345");
        assert_eq!(
            pseudonym(Some(&[0, 1, 2, 3])),
            pseudonym(Some(&[0, 1, 2, 3]))
        );
    }
}
