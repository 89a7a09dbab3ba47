//! Office hours of an official: weekdays and a local time window, in the
//! official's IANA time zone. Letters are sent only inside them.
//!
//! Written `Mon-Fri 09:00-18:00` (days: `Mon`..`Sun`, ranges and commas,
//! e.g. `Mon,Wed,Fri 10:00-16:00`; `24:00` ends at midnight).

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use chrono_tz::Tz;

use chrono::{Duration, LocalResult, TimeZone};

const DAY_NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// Days (ISO, 1 = Monday) and a window of local minutes, end exclusive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    pub days: Vec<i32>,
    pub start: i32,
    pub end: i32,
}

impl Default for OfficeHours {
    /// Monday to Friday, 09:00-18:00.
    fn default() -> Self {
        OfficeHours {
            days: vec![1, 2, 3, 4, 5],
            start: 9 * 60,
            end: 18 * 60,
        }
    }
}

/// Why office hours were refused (never quotes anything personal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("office hours: expected e.g. `Mon-Fri 09:00-18:00`")]
pub struct InvalidHours;

fn day(s: &str) -> Result<i32, InvalidHours> {
    DAY_NAMES
        .iter()
        .position(|d| d.eq_ignore_ascii_case(s.trim()))
        .map(|i| i as i32 + 1)
        .ok_or(InvalidHours)
}

fn minutes(s: &str) -> Result<i32, InvalidHours> {
    let (h, m) = s.trim().split_once(':').ok_or(InvalidHours)?;
    let (h, m): (i32, i32) = (
        h.parse().map_err(|_| InvalidHours)?,
        m.parse().map_err(|_| InvalidHours)?,
    );
    if !(0..60).contains(&m) || !(0..=24).contains(&h) || (h == 24 && m != 0) {
        return Err(InvalidHours);
    }
    Ok(h * 60 + m)
}

impl OfficeHours {
    pub fn parse(s: &str) -> Result<Self, InvalidHours> {
        let (days_part, time_part) = s
            .trim()
            .split_once(char::is_whitespace)
            .ok_or(InvalidHours)?;
        let mut days = Vec::new();
        for part in days_part.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return Err(InvalidHours);
                    }
                    days.extend(a..=b);
                }
                None => days.push(day(part)?),
            }
        }
        days.sort_unstable();
        days.dedup();
        let (start, end) = time_part.trim().split_once('-').ok_or(InvalidHours)?;
        let (start, end) = (minutes(start)?, minutes(end)?);
        if start >= end || start >= 1440 {
            return Err(InvalidHours);
        }
        Ok(OfficeHours { days, start, end })
    }

    /// From the table's columns; `None` if they are inconsistent.
    pub fn from_columns(days: Vec<i32>, start: i32, end: i32) -> Option<Self> {
        let ok = !days.is_empty()
            && days.iter().all(|d| (1..=7).contains(d))
            && (0..1440).contains(&start)
            && start < end
            && end <= 1440;
        ok.then_some(OfficeHours { days, start, end })
    }

    /// Whether `at` falls inside the hours in `tz`.
    pub fn is_open(&self, tz: Tz, at: DateTime<Utc>) -> bool {
        let local = at.with_timezone(&tz).naive_local();
        self.open_on(local.date()) && {
            let m = local
                .time()
                .signed_duration_since(NaiveTime::MIN)
                .num_minutes() as i32;
            (self.start..self.end).contains(&m)
        }
    }

    fn open_on(&self, date: NaiveDate) -> bool {
        self.days
            .contains(&(date.weekday().number_from_monday() as i32))
    }

    fn local(date: NaiveDate, minute: i32) -> NaiveDateTime {
        date.and_time(NaiveTime::MIN) + chrono::Duration::minutes(minute as i64)
    }

    /// `at` if the office is open then, else the next opening after it.
    pub fn next_open(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        if self.is_open(tz, at) {
            return at;
        }
        self.first_opening_from(tz, at, at.with_timezone(&tz).date_naive())
    }

    /// The first opening on a local day after `at`'s (a daily cap reached).
    pub fn next_day_open(&self, tz: Tz, at: DateTime<Utc>) -> DateTime<Utc> {
        let tomorrow = at.with_timezone(&tz).date_naive() + Days::new(1);
        self.first_opening_from(tz, at, tomorrow)
    }

    fn first_opening_from(&self, tz: Tz, at: DateTime<Utc>, from: NaiveDate) -> DateTime<Utc> {
        for d in 0..15 {
            let date = from + Days::new(d);
            if !self.open_on(date) {
                continue;
            }
            let opening = local_to_instant(tz, Self::local(date, self.start));
            let closing = local_to_instant(tz, Self::local(date, self.end));
            if opening > at {
                return opening;
            }
            if closing > at {
                // Inside a window that `is_open` did not see (DST edge).
                return at;
            }
        }
        // No open day at all cannot be stored; be safe rather than loop.
        at + chrono::Duration::days(7)
    }

    /// The local date of `at` in `tz` (the day a daily cap counts).
    pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&tz).date_naive()
    }
}

impl std::fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.days.len() {
            let mut j = i;
            while j + 1 < self.days.len() && self.days[j + 1] == self.days[j] + 1 {
                j += 1;
            }
            let name = |d: i32| DAY_NAMES[(d - 1) as usize];
            parts.push(if j > i {
                format!("{}-{}", name(self.days[i]), name(self.days[j]))
            } else {
                name(self.days[i]).to_string()
            });
            i = j + 1;
        }
        let hm = |m: i32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{} {}-{}", parts.join(","), hm(self.start), hm(self.end))
    }
}

/// The instant of a local wall-clock time: the earlier of an ambiguous
/// pair, the first minute after a gap.
pub fn local_to_instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first minute after it that exists.
            let mut probe = local;
            for _ in 0..(24 * 60) {
                probe += Duration::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            Utc.from_utc_datetime(&local)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parse_and_display() {
        let h = OfficeHours::parse("Mon-Fri 09:00-18:00").unwrap();
        assert_eq!(h, OfficeHours::default());
        assert_eq!(h.to_string(), "Mon-Fri 09:00-18:00");
        let h = OfficeHours::parse("mon,wed,Fri-Sun 00:00-24:00").unwrap();
        assert_eq!(h.days, vec![1, 3, 5, 6, 7]);
        assert_eq!(h.to_string(), "Mon,Wed,Fri-Sun 00:00-24:00");
        for bad in [
            "",
            "Mon-Fri",
            "Fri-Mon 09:00-18:00",
            "Mon 18:00-09:00",
            "Mon 9-18",
            "Xyz 09:00-10:00",
            "Mon 24:30-25:00",
        ] {
            assert!(OfficeHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn saturday_in_almaty_waits_until_monday_nine() {
        let tz: Tz = "Asia/Almaty".parse().unwrap();
        let h = OfficeHours::default();
        // Saturday 6 June 2026, 11:00 in Almaty (UTC+5).
        let sat = tz
            .with_ymd_and_hms(2026, 6, 6, 11, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(!h.is_open(tz, sat));
        let next = h.next_open(tz, sat);
        assert_eq!(
            next,
            tz.with_ymd_and_hms(2026, 6, 8, 9, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        );
        assert!(h.is_open(tz, next));
        assert!(!h.is_open(tz, next - chrono::Duration::seconds(1)));
        // Friday 17:59 is open; 18:00 is not, and the next is Monday.
        let fri = tz
            .with_ymd_and_hms(2026, 6, 5, 17, 59, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert!(h.is_open(tz, fri));
        let after = fri + chrono::Duration::minutes(1);
        assert_eq!(h.next_open(tz, after), next);
        // A cap reached on Monday morning: Tuesday 09:00.
        assert_eq!(
            h.next_day_open(tz, next),
            tz.with_ymd_and_hms(2026, 6, 9, 9, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        );
    }
}
