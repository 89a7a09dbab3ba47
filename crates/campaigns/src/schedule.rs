//! When a campaign fires: cron expressions, one-shot local date-times and a
//! built-in calendar of awareness days, each in an IANA time zone.
//!
//! Schedules are evaluated in *local wall-clock time* and then mapped to an
//! instant, with one rule for daylight-saving edges (documented in
//! ARCHITECTURE.md): a local time that does not exist (clocks jump forward)
//! fires at the first existing instant after the gap; a local time that
//! occurs twice (clocks fall back) fires once, at its first occurrence.
//! `Asia/Almaty` has no such edges since Kazakhstan moved to a single UTC+5
//! on 1 March 2024.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use nasvyazi_platform::hours::local_to_instant;
use nasvyazi_supporters::regions::Names;

/// A day of the awareness calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AwarenessDay {
    pub code: String,
    pub month: u32,
    pub day: u32,
    pub name: Names,
}

fn day(code: &str, month: u32, d: u32, ru: &str, kk: &str, en: &str) -> AwarenessDay {
    AwarenessDay {
        code: code.into(),
        month,
        day: d,
        name: Names {
            ru: ru.into(),
            kk: kk.into(),
            en: en.into(),
        },
    }
}

/// The built-in calendar.
pub fn builtin_days() -> Vec<AwarenessDay> {
    vec![
        day(
            "zero_discrimination_day",
            3,
            1,
            "День нулевой дискриминации",
            "Кемсітушілікке жол бермеу күні",
            "Zero Discrimination Day",
        ),
        day(
            "support_dont_punish",
            6,
            26,
            "Международный день борьбы с наркоманией · «Поддержка, а не наказание»",
            "Халықаралық нашақорлыққа қарсы күрес күні · «Жазалау емес, қолдау»",
            "International Day against Drug Abuse · Support. Don't Punish",
        ),
        day(
            "remembrance_day",
            7,
            21,
            "Международный день памяти людей, умерших от употребления наркотиков",
            "Есірткі қолданудан қайтыс болған адамдарды еске алу халықаралық күні",
            "International Remembrance Day for people who died from drug use",
        ),
        day(
            "world_hepatitis_day",
            7,
            28,
            "Всемирный день борьбы с гепатитом",
            "Дүниежүзілік гепатитпен күрес күні",
            "World Hepatitis Day",
        ),
        day(
            "overdose_awareness_day",
            8,
            31,
            "Международный день информирования о передозировках",
            "Артық дозалану туралы халықаралық ақпарат күні",
            "International Overdose Awareness Day",
        ),
        day(
            "world_aids_day",
            12,
            1,
            "Всемирный день борьбы со СПИДом",
            "Дүниежүзілік ЖИТС-пен күрес күні",
            "World AIDS Day",
        ),
    ]
}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron expression (5 fields, or 6-7 with seconds/years).
    Cron(Box<cron::Schedule>),
    /// Local date-times, each fired once.
    Once(Vec<NaiveDateTime>),
    /// Every year on `month`/`day` at `time`.
    Yearly {
        month: u32,
        day: u32,
        time: NaiveTime,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("not a valid cron expression (5 fields: minute hour day-of-month month day-of-week)")]
    Cron,
    #[error("not a valid IANA time zone")]
    TimeZone,
    #[error("no such day in the calendar")]
    UnknownDay,
}

/// Parses a cron expression. The usual five Unix fields (minute hour
/// day-of-month month day-of-week, with day-of-week 0 or 7 = Sunday,
/// 1 = Monday) get a `0` seconds field and their day-of-week numbers moved to
/// the `cron` crate's 1 = Sunday numbering; 6 or 7 fields are taken as the
/// `cron` crate's own format.
pub fn parse_cron(expr: &str) -> Result<cron::Schedule, ScheduleError> {
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let full = match fields.len() {
        5 => format!(
            "0 {} {} {} {} {}",
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            unix_dow(fields[4]).ok_or(ScheduleError::Cron)?
        ),
        6 | 7 => fields.join(" "),
        _ => return Err(ScheduleError::Cron),
    };
    cron::Schedule::from_str(&full).map_err(|_| ScheduleError::Cron)
}

/// Unix day-of-week numbers (0-7, Sunday = 0 or 7) to the cron crate's
/// (1-7, Sunday = 1). Names (MON-FRI) pass through.
fn unix_dow(field: &str) -> Option<String> {
    let map = |n: &str| -> Option<u32> {
        let n: u32 = n.parse().ok()?;
        (n <= 7).then_some(if n == 7 { 1 } else { n + 1 })
    };
    let mut out = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        let step = step.map(|s| format!("/{s}")).unwrap_or_default();
        if range == "*" || range == "?" || range.chars().any(|c| c.is_ascii_alphabetic()) {
            out.push(format!("{range}{step}"));
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (map(a)?, map(b)?);
            if b >= a {
                out.push(format!("{a}-{b}{step}"));
            } else {
                // e.g. 5-7 (Fri-Sun) becomes 6-7 and 1.
                out.push(format!("{a}-7{step}"));
                out.push(format!("1-{b}{step}"));
            }
        } else {
            out.push(format!("{}{step}", map(range)?));
        }
    }
    Some(out.join(","))
}

pub fn parse_tz(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>().map_err(|_| ScheduleError::TimeZone)
}

impl Schedule {
    /// The next local wall-clock time strictly after `local`.
    fn next_local(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        match self {
            Schedule::Cron(s) => {
                // cron evaluated on a "floating" clock: naive local time as UTC.
                s.after(&Utc.from_utc_datetime(&local))
                    .next()
                    .map(|t| t.naive_utc())
            }
            Schedule::Once(times) => times.iter().filter(|t| **t > local).min().copied(),
            Schedule::Yearly { month, day, time } => {
                for year in local.year()..local.year() + 10 {
                    if let Some(d) = NaiveDate::from_ymd_opt(year, *month, *day) {
                        let t = d.and_time(*time);
                        if t > local {
                            return Some(t);
                        }
                    }
                }
                None
            }
        }
    }

    /// The next instant strictly after `after`, in time zone `tz`.
    pub fn next_after(&self, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Start a little before, in local time, so an ambiguous hour is seen
        // from its first pass; then skip anything not after `after`.
        let mut local = after.with_timezone(&tz).naive_local() - Duration::hours(3);
        for _ in 0..10_000 {
            let next = self.next_local(local)?;
            let instant = local_to_instant(tz, next);
            if instant > after {
                return Some(instant);
            }
            local = next;
        }
        None
    }

    /// The next `n` instants after `after`.
    pub fn upcoming(&self, tz: Tz, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(tz, t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn almaty_is_utc_plus_5_after_march_2024() {
        let tz: Tz = "Asia/Almaty".parse().unwrap();
        let day = Schedule::Yearly {
            month: 8,
            day: 31,
            time: NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        };
        let next = day.next_after(tz, utc("2026-06-01T00:00:00Z")).unwrap();
        assert_eq!(next, utc("2026-08-31T05:00:00Z"));
        assert_eq!(
            next.with_timezone(&tz).to_rfc3339(),
            "2026-08-31T10:00:00+05:00"
        );
        // Before the change Almaty was UTC+6.
        let old = day.next_after(tz, utc("2023-06-01T00:00:00Z")).unwrap();
        assert_eq!(old, utc("2023-08-31T04:00:00Z"));
    }

    #[test]
    fn five_field_cron_in_a_time_zone() {
        let tz: Tz = "Asia/Almaty".parse().unwrap();
        let s = Schedule::Cron(Box::new(parse_cron("0 10 * * 1").unwrap()));
        // 2026-11-24 is a Tuesday; next Monday 10:00 +05 = 05:00Z on the 30th.
        assert_eq!(
            s.next_after(tz, utc("2026-11-24T12:00:00Z")).unwrap(),
            utc("2026-11-30T05:00:00Z")
        );
        let weekdays = Schedule::Cron(Box::new(parse_cron("0 9 * * 1-5").unwrap()));
        let next = weekdays.upcoming(tz, utc("2026-11-27T12:00:00Z"), 2); // Friday afternoon
        assert_eq!(
            next,
            vec![utc("2026-11-30T04:00:00Z"), utc("2026-12-01T04:00:00Z")]
        );
        let sunday = Schedule::Cron(Box::new(parse_cron("0 9 * * 0").unwrap()));
        assert_eq!(
            sunday.next_after(tz, utc("2026-11-24T00:00:00Z")).unwrap(),
            utc("2026-11-29T04:00:00Z")
        );
        assert!(parse_cron("every day").is_err());
        assert!(parse_cron("61 10 * * *").is_err());
    }

    #[test]
    fn daylight_saving_gap_and_overlap() {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let s = Schedule::Cron(Box::new(parse_cron("30 2 * * *").unwrap()));
        // 2027-03-28: 02:30 does not exist in Berlin -> 03:00 CEST = 01:00Z.
        assert_eq!(
            s.next_after(tz, utc("2027-03-27T12:00:00Z")).unwrap(),
            utc("2027-03-28T01:00:00Z")
        );
        // 2026-10-25: 02:30 happens twice -> once, at the first (CEST, 00:30Z).
        let first = s.next_after(tz, utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(first, utc("2026-10-25T00:30:00Z"));
        let after = s.next_after(tz, first).unwrap();
        assert_eq!(
            after,
            utc("2026-10-26T01:30:00Z"),
            "not again at 01:30Z the same night"
        );
    }

    #[test]
    fn one_shot_times_fire_once_each() {
        let tz: Tz = "Asia/Almaty".parse().unwrap();
        let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        let s = Schedule::Once(vec![t("2026-12-01 10:00"), t("2026-12-01 18:00")]);
        let all = s.upcoming(tz, utc("2026-11-24T00:00:00Z"), 5);
        assert_eq!(
            all,
            vec![utc("2026-12-01T05:00:00Z"), utc("2026-12-01T13:00:00Z")]
        );
    }
}
