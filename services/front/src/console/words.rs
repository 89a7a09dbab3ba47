//! Dates and times in words, in the person's language: "понедельник,
//! 31 августа 2027, 10:00", "2027 жылғы 31 тамыз, сейсенбі, 10:00",
//! "Tuesday, 31 August 2027, 10:00". The patterns and names are in the
//! console catalogs (`console.date.*`), so a translator can change the
//! order, not just the words.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use nasvyazi_shared::i18n::{self, Lang};

/// A date and time in `tz`, in words.
pub fn datetime(lang: Lang, at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    let weekday = local.weekday().number_from_monday();
    i18n::fill(
        &i18n::t(lang, "console.date.datetime"),
        &[
            (
                "weekday",
                &i18n::t(lang, &format!("console.date.weekday_{weekday}")),
            ),
            ("day", &local.day().to_string()),
            (
                "month",
                &i18n::t(lang, &format!("console.date.month_{}", local.month())),
            ),
            ("year", &local.year().to_string()),
            (
                "time",
                &format!("{:02}:{:02}", local.hour(), local.minute()),
            ),
        ],
    )
}

/// A date and time in the console's default zone, short: "31.08.2027 10:00".
pub fn short(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%d.%m.%Y %H:%M").to_string()
}

/// "in 3 days", "in 5 hours", "in 12 minutes" (plural rules per language).
pub fn from_now(lang: Lang, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds().max(0);
    let (key, n) = if secs >= 86_400 {
        ("console.date.in_days", secs / 86_400)
    } else if secs >= 3_600 {
        ("console.date.in_hours", secs / 3_600)
    } else {
        ("console.date.in_minutes", (secs / 60).max(1))
    };
    i18n::plural(lang, key, n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_overdose_day_in_three_languages() {
        let at = DateTime::parse_from_rfc3339("2027-08-31T05:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tz = chrono_tz::Asia::Almaty;
        assert_eq!(
            datetime(Lang::Ru, at, tz),
            "вторник, 31 августа 2027, 10:00"
        );
        assert_eq!(
            datetime(Lang::Kk, at, tz),
            "2027 жылғы 31 тамыз, сейсенбі, 10:00"
        );
        assert_eq!(datetime(Lang::En, at, tz), "Tuesday, 31 August 2027, 10:00");
        let now = at - chrono::Duration::days(2);
        assert_eq!(from_now(Lang::Ru, at, now), "через 2 дня");
        assert_eq!(from_now(Lang::Kk, at, now), "2 күннен кейін");
    }
}
