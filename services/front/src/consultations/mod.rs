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
pub mod web;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use nasvyazi_shared::config::ConsultationsConfig;
use nasvyazi_shared::hours::OfficeHours;
use nasvyazi_shared::i18n::{self, Lang};

pub use nasvyazi_cases::consultations::{
    CHAT_KIND, access_hash, canonical_number, chat_index, message_aad, new_access_code, new_number,
    person_aad, pseudonym, store,
};

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
    fn the_auto_answer_says_when_and_always_the_emergency_text() {
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
