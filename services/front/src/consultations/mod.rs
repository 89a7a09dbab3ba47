//! «На связи»: anonymous peer consultations. A person writes to the bot (or
//! through `/talk` on the web) and a consultant answers from the console or
//! from a forum topic in the staff group; neither is exposed to the other.
//!
//! - The person is a pseudonym to staff («Гость 7F3K»): never a name,
//!   username, phone or chat id. The chat id is sealed under the person's
//!   own data key and found again by its blind index.
//! - Consultants are the organisation to the person: replies go from the
//!   bot (`sendMessage`/`copyMessage`, never `forwardMessage`), through the
//!   notifier's Telegram sender, at most once (`unknown` after a crash).
//! - Every message is sealed under the conversation's data key; reading a
//!   conversation is audited; closed conversations are crypto-shredded
//!   after `consultations.retention_days`, counted first.
//!
//! Nothing here logs more than ids.

pub mod api;
pub mod bot;
pub mod media;
pub mod pages;
pub mod retention;
pub mod staff_group;
pub mod store;
pub mod web;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use nasvyazi_shared::config::ConsultationsConfig;
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::hours::OfficeHours;
use nasvyazi_shared::i18n::{self, Lang};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::appeals::model::{canonical_chars, grouped, random_chars};

/// The blind-index kind of a person's Telegram chat id (not the
/// subscribers' kind: being a subscriber and writing for help stay
/// unlinkable in a dump).
pub const CHAT_KIND: &str = "consultation";

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
    format!("NS-{}", grouped(&random_chars(8)))
}

/// A typed number in its canonical form (`ns 7f3k9qx2` -> `NS-7F3K-9QX2`).
pub fn canonical_number(input: &str) -> Option<String> {
    let s = input.trim();
    let s = ["NS", "ns", "Ns", "nS"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
        .unwrap_or(s);
    canonical_chars(s, 8).map(|c| format!("NS-{}", grouped(&c)))
}

/// A fresh access code for the web (16 characters in groups).
pub fn new_access_code() -> Zeroizing<String> {
    crate::appeals::model::new_access_code()
}

/// The stored form of an access code: a keyed hash of its canonical form.
pub fn access_hash(keys: &Keyring, input: &str) -> Vec<u8> {
    let canonical = canonical_chars(input, 16).unwrap_or_else(|| "-".into());
    keys.blind_index("conversation_access", &canonical)
}

/// The organisation's hours, parsed (configuration was checked at start).
pub fn hours(c: &ConsultationsConfig) -> (OfficeHours, Tz) {
    (
        OfficeHours::parse(&c.hours).unwrap_or_default(),
        c.time_zone.parse().unwrap_or(chrono_tz::Asia::Almaty),
    )
}

/// The automatic answer to a new conversation: received, when we answer,
/// and always the emergency text. Telegram HTML (the emergency text is the
/// organisation's own HTML; the rest is escaped catalog text).
pub fn auto_answer(c: &ConsultationsConfig, lang: Lang, now: DateTime<Utc>) -> String {
    let (hours, tz) = hours(c);
    let when = if hours.is_open(tz, now) {
        i18n::t(lang, "consult.answer_soon")
    } else {
        let next = hours.next_open(tz, now).with_timezone(&tz);
        i18n::fill(
            &i18n::t(lang, "consult.answer_later"),
            &[("when", &next.format("%d.%m %H:%M").to_string())],
        )
    };
    let schedule = i18n::fill(
        &i18n::t(lang, "consult.hours"),
        &[("hours", &c.hours), ("zone", &c.time_zone)],
    );
    format!(
        "{}\n{}\n{}\n\n{}",
        html_escape(&i18n::t(lang, "consult.received")),
        html_escape(&when),
        html_escape(&schedule),
        c.emergency_text.get(lang)
    )
}

/// Escapes text for Telegram's HTML parse mode.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_pseudonyms_and_the_auto_answer() {
        let n = new_number();
        assert_eq!(canonical_number(&n.to_lowercase()), Some(n.clone()));
        assert_eq!(canonical_number("nope"), None);
        assert_eq!(pseudonym(Some(&[0, 1, 2, 3, 9])), "Гость 2345");
        assert_eq!(
            pseudonym(Some(&[0, 1, 2, 3])),
            pseudonym(Some(&[0, 1, 2, 3]))
        );
        let config = nasvyazi_shared::Config::from_toml("").unwrap();
        let c = &config.consultations;
        // Wednesday 2026-12-02 12:00 Almaty = 07:00 UTC: open.
        let open = "2026-12-02T07:00:00Z".parse().unwrap();
        let text = auto_answer(c, Lang::En, open);
        assert!(text.contains("103"), "{text}");
        // 03:00 Almaty: closed, says when.
        let closed = "2026-12-01T22:00:00Z".parse().unwrap();
        let text = auto_answer(c, Lang::Ru, closed);
        assert!(text.contains("02.12 10:00"), "{text}");
        assert!(text.contains("103"), "{text}");
    }
}
