//! Scheduled series, a "content plan" (issue 16): a campaign of kind
//! `series` is a list of posts, each with its local date-time (in the
//! campaign's time zone), its channels and its own templates. The
//! scheduler fires the posts' instants as it fires a `once` campaign's
//! (one occurrence per instant, never two); the notifier sends, for each
//! occurrence, the post whose instant is the occurrence's `scheduled_at`
//! ([`for_occurrence`]), so each post goes out once.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schedule;
use crate::{Campaign, Templates};

/// The most posts one series holds.
pub const MAX_POSTS: usize = 100;

/// One post of a series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeriesPost {
    /// Local date-time in the campaign's time zone (`2026-12-05T10:00`).
    #[serde(serialize_with = "local_out", deserialize_with = "local_in")]
    #[schema(value_type = String, example = "2026-12-05T10:00")]
    pub at: NaiveDateTime,
    /// The campaign channels this post goes to (as `audience.channels`:
    /// email, telegram, telegram_channel, `telegram_channel:<id>`); empty:
    /// the campaign's `audience.channels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    /// The post's texts per language, as a campaign's `templates`.
    #[schema(value_type = Object)]
    pub templates: Templates,
}

/// `2026-12-05T10:00` (or with seconds, when it has them).
pub fn format_local(t: &NaiveDateTime) -> String {
    if t.and_utc().timestamp() % 60 == 0 {
        t.format("%Y-%m-%dT%H:%M").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

/// Parses `2026-12-05T10:00` or `2026-12-05T10:00:30`.
pub fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .ok()
}

fn local_out<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_local(t))
}

fn local_in<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let s = String::deserialize(d)?;
    parse_local(&s)
        .ok_or_else(|| serde::de::Error::custom("`at`: a local date-time like 2026-12-05T10:00"))
}

impl Campaign {
    /// The series' post fired at `scheduled_at`, if any.
    pub fn series_post(&self, scheduled_at: DateTime<Utc>) -> Option<&SeriesPost> {
        let tz = self.tz().ok()?;
        self.series
            .iter()
            .find(|p| schedule::local_to_instant(tz, p.at) == scheduled_at)
    }

    /// The campaign as the occurrence at `scheduled_at` sends it: for a
    /// series, the post's templates and channels (its own, or the
    /// campaign's when it names none); no channels when no post is at that
    /// instant any more (the series was edited since), so nothing is sent.
    /// Other kinds: as they are.
    pub fn at_occurrence(&self, scheduled_at: DateTime<Utc>) -> Cow<'_, Campaign> {
        if self.schedule_kind != "series" {
            return Cow::Borrowed(self);
        }
        let mut c = self.clone();
        match self.series_post(scheduled_at) {
            Some(post) => {
                c.templates = sqlx::types::Json(post.templates.clone());
                if !post.channels.is_empty() {
                    c.channels = post.channels.clone();
                }
            }
            None => {
                c.templates = sqlx::types::Json(Templates::new());
                c.channels = Vec::new();
            }
        }
        Cow::Owned(c)
    }
}

impl Campaign {
    /// What a preview or a test send shows: for a series, its next post
    /// after `now` (the last one when all have gone); other kinds as they
    /// are.
    pub fn for_preview(&self, now: DateTime<Utc>) -> Cow<'_, Campaign> {
        let Ok(tz) = self.tz() else {
            return Cow::Borrowed(self);
        };
        let next = self
            .series
            .iter()
            .map(|p| schedule::local_to_instant(tz, p.at))
            .filter(|t| *t > now)
            .min()
            .or_else(|| {
                self.series
                    .iter()
                    .map(|p| schedule::local_to_instant(tz, p.at))
                    .max()
            });
        match next {
            Some(at) if self.schedule_kind == "series" => self.at_occurrence(at),
            _ => Cow::Borrowed(self),
        }
    }
}

/// [`Campaign::at_occurrence`] of the occurrence `occurrence_id` (one
/// query, for series only): what fan-out expands and what the composer
/// renders.
pub async fn for_occurrence<'a, 'c, E>(
    db: E,
    campaign: &'a Campaign,
    occurrence_id: Uuid,
) -> sqlx::Result<Cow<'a, Campaign>>
where
    E: sqlx::PgExecutor<'c>,
{
    if campaign.schedule_kind != "series" {
        return Ok(Cow::Borrowed(campaign));
    }
    let at: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT scheduled_at FROM occurrences WHERE id = $1")
            .bind(occurrence_id)
            .fetch_optional(db)
            .await?;
    Ok(match at {
        Some(at) => Cow::Owned(campaign.at_occurrence(at).into_owned()),
        None => {
            let mut c = campaign.clone();
            c.templates = sqlx::types::Json(Templates::new());
            c.channels = Vec::new();
            Cow::Owned(c)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_reads_and_writes_minutes() {
        let p: SeriesPost = serde_json::from_value(serde_json::json!({
            "at": "2026-12-05T10:00", "templates": {}
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({ "at": "2026-12-05T10:00", "templates": {} })
        );
        assert_eq!(
            format_local(&parse_local("2026-12-05T10:00:30").unwrap()),
            "2026-12-05T10:00:30"
        );
        assert!(
            serde_json::from_value::<SeriesPost>(
                serde_json::json!({ "at": "5 Dec", "templates": {} })
            )
            .is_err()
        );
    }
}
