//! The campaign API's shapes and their validation. Bad input gets a clear
//! error naming the field; nothing is stored until all of it is valid.
//! What needs the database (media, registered channels, a series' posts)
//! is checked by [`email_media`], [`telegram_media`] and [`series`].

pub mod email_media;
pub mod series;
pub mod telegram_media;

use crate::schedule::{self, AwarenessDay};
use crate::{CHANNELS, Campaign, Templates};
use chrono::{NaiveDateTime, NaiveTime};
use nasvyazi_platform::config::Config;
use nasvyazi_platform::i18n::Lang;
use nasvyazi_supporters::contacts::topics;
use nasvyazi_supporters::regions::Region;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// When a campaign fires.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum ScheduleInput {
    /// An awareness day from `GET /api/v1/admin/awareness-days`, every
    /// year at `time` (local, default 10:00).
    Day {
        #[schema(pattern = "^[a-z0-9_]{1,60}$")]
        day: String,
        #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
        time: Option<String>,
    },
    /// A cron expression: minute hour day-of-month month day-of-week.
    Cron {
        #[schema(min_length = 9, max_length = 200)]
        cron: String,
    },
    /// Local date-times (`2026-12-01T10:00`), each fired once.
    Once {
        #[schema(min_items = 1, max_items = 100, value_type = Vec<String>, pattern = "^20[2-9][0-9]-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]$")]
        at: Vec<String>,
    },
    /// A content plan: posts, each with its local date-time (in the
    /// campaign's time zone), channels (empty: `audience.channels`) and
    /// templates, each sent once.
    Series {
        #[schema(min_items = 1, max_items = 100)]
        posts: Vec<crate::series::SeriesPost>,
    },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AudienceInput {
    /// Topic codes; empty: everyone (general updates).
    #[serde(default)]
    #[schema(value_type = Vec<nasvyazi_supporters::contacts::TopicCode>)]
    pub topics: Vec<String>,
    /// ru, kk, en; empty: all.
    #[serde(default)]
    #[schema(value_type = Vec<Lang>)]
    pub languages: Vec<String>,
    /// Region codes; empty: all.
    #[serde(default)]
    #[schema(value_type = Vec<nasvyazi_supporters::regions::RegionCode>)]
    pub regions: Vec<String>,
    /// email, telegram (direct messages), telegram_channel (one post to
    /// the configured channel), telegram_channel:<id> (one post to a
    /// registered channel, in its language: `GET /api/v1/admin/channels`).
    #[schema(value_type = Vec<String>, min_items = 1)]
    pub channels: Vec<String>,
}

/// A campaign channel.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum ChannelCode {
    Email,
    Telegram,
    TelegramChannel,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    /// "22:00"
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub start: String,
    /// "09:00"
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    pub end: String,
}

/// A campaign as created or edited through the API.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignInput {
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub name: String,
    pub schedule: ScheduleInput,
    /// IANA time zone; default `campaigns.default_time_zone` (Asia/Almaty).
    #[schema(example = "Asia/Almaty")]
    pub time_zone: Option<String>,
    pub audience: AudienceInput,
    /// Per language code: email_subject, email_text, email_html, telegram.
    #[schema(value_type = Object)]
    pub templates: Templates,
    /// Default `campaigns.quiet_hours_*` (22:00-09:00).
    pub quiet_hours: Option<QuietHours>,
}

/// A field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Invalid {
    Invalid {
        field,
        reason: reason.into(),
    }
}

/// A validated definition, ready for the table.
#[derive(Debug, Clone)]
pub struct Valid {
    pub name: String,
    pub schedule_kind: String,
    pub cron_expr: Option<String>,
    pub once_at: Vec<NaiveDateTime>,
    pub day_code: Option<String>,
    pub send_time: Option<NaiveTime>,
    pub time_zone: String,
    pub topics: Vec<String>,
    pub languages: Vec<String>,
    pub regions: Vec<String>,
    pub channels: Vec<String>,
    pub templates: Templates,
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
    /// The posts of a series (empty for other kinds).
    pub series: Vec<crate::series::SeriesPost>,
}

fn time(field: &'static str, s: &str) -> Result<NaiveTime, Invalid> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| invalid(field, "a time like 10:00"))
}

impl CampaignInput {
    pub fn validate(
        &self,
        config: &Config,
        days: &[AwarenessDay],
        regions: &[Region],
    ) -> Result<Valid, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "1 to 200 characters"));
        }
        let time_zone = self
            .time_zone
            .clone()
            .unwrap_or_else(|| config.campaigns.default_time_zone.clone());
        schedule::parse_tz(&time_zone)
            .map_err(|_| invalid("time_zone", "an IANA time zone such as Asia/Almaty"))?;
        let (mut cron_expr, mut once_at, mut day_code, mut send_time) =
            (None, Vec::new(), None, None);
        let mut series = Vec::new();
        let schedule_kind = match &self.schedule {
            ScheduleInput::Day { day, time: t } => {
                if !days.iter().any(|d| &d.code == day) {
                    return Err(invalid(
                        "schedule.day",
                        "not a day of the calendar (GET /api/v1/admin/awareness-days)",
                    ));
                }
                day_code = Some(day.clone());
                send_time = Some(match t {
                    Some(t) => time("schedule.time", t)?,
                    None => NaiveTime::from_hms_opt(10, 0, 0).expect("10:00"),
                });
                "day"
            }
            ScheduleInput::Cron { cron } => {
                schedule::parse_cron(cron).map_err(|e| invalid("schedule.cron", e.to_string()))?;
                cron_expr = Some(cron.trim().to_string());
                "cron"
            }
            ScheduleInput::Once { at } => {
                if at.is_empty() || at.len() > 100 {
                    return Err(invalid("schedule.at", "1 to 100 local date-times"));
                }
                for s in at {
                    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M")
                        .or_else(|_| NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S"))
                        .map_err(|_| {
                            invalid("schedule.at", "local date-times like 2026-12-01T10:00")
                        })?;
                    once_at.push(t);
                }
                "once"
            }
            ScheduleInput::Series { posts } => {
                series = self::series::validate(posts, &time_zone)?;
                "series"
            }
        }
        .to_string();
        let a = &self.audience;
        for t in &a.topics {
            if !topics().contains(t) {
                return Err(invalid("audience.topics", format!("unknown topic `{t}`")));
            }
        }
        for l in &a.languages {
            if Lang::parse(l).is_none() {
                return Err(invalid("audience.languages", "ru, kk or en"));
            }
        }
        for r in &a.regions {
            if !nasvyazi_supporters::regions::is_known(regions, r, None) {
                return Err(invalid("audience.regions", format!("unknown region `{r}`")));
            }
        }
        if a.channels.is_empty() {
            return Err(invalid("audience.channels", "choose at least one channel"));
        }
        for c in &a.channels {
            match self::telegram_media::registered_channel(c) {
                Some(Some(_)) => {}
                Some(None) => {
                    return Err(invalid(
                        "audience.channels",
                        "telegram_channel:<id of a registered channel (GET /api/v1/admin/channels)>",
                    ));
                }
                None if CHANNELS.contains(&c.as_str()) => {}
                None => {
                    return Err(invalid(
                        "audience.channels",
                        "email, telegram, telegram_channel or telegram_channel:<registered channel id>",
                    ));
                }
            }
        }
        for lang in self.templates.keys() {
            if Lang::parse(lang).is_none() {
                return Err(invalid("templates", "keys are language codes: ru, kk, en"));
            }
        }
        let (quiet_start, quiet_end) = match &self.quiet_hours {
            Some(q) => (
                time("quiet_hours.start", &q.start)?,
                time("quiet_hours.end", &q.end)?,
            ),
            None => (
                time("quiet_hours.start", &config.campaigns.quiet_hours_start)?,
                time("quiet_hours.end", &config.campaigns.quiet_hours_end)?,
            ),
        };
        let valid = Valid {
            name: name.to_string(),
            schedule_kind,
            cron_expr,
            once_at,
            day_code,
            send_time,
            time_zone,
            topics: dedup(&a.topics),
            languages: dedup(
                &a.languages
                    .iter()
                    .map(|l| l.to_lowercase())
                    .collect::<Vec<_>>(),
            ),
            regions: dedup(&a.regions),
            channels: dedup(&a.channels),
            templates: self.templates.clone(),
            quiet_start,
            quiet_end,
            series,
        };
        // Templates must render (syntax) now, not at 10:00 on the day.
        check_templates(&valid.templates)?;
        Ok(valid)
    }
}

fn dedup(v: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    out
}

pub(super) fn check_templates(t: &Templates) -> Result<(), Invalid> {
    let env = minijinja::Environment::new();
    for m in t.values() {
        for src in [&m.email_subject, &m.email_text, &m.email_html, &m.telegram]
            .into_iter()
            .flatten()
        {
            env.template_from_str(src)
                .map_err(|e| invalid("templates", format!("template syntax: {e}")))?;
        }
    }
    // Run once with stand-in values: a template over the limits (a loop
    // bomb, a huge output) is refused here, not at preview or send time.
    crate::check_limits(t).map_err(|l| invalid("templates", l.to_string()))?;
    // A remote resource in the source, or in what it renders to.
    let remote = t
        .values()
        .filter_map(|m| m.email_html.as_deref())
        .find_map(crate::remote_resource)
        .or_else(|| crate::remote_resource_rendered(t));
    if let Some(found) = remote {
        return Err(invalid(
            "templates",
            format!(
                "email_html loads a remote resource when opened ({found}...): it would reveal every recipient's IP address; use links, not remote images or styles"
            ),
        ));
    }
    Ok(())
}

/// What approval needs: a message for every chosen channel, in some language.
pub fn ready_to_approve(c: &Campaign) -> Result<(), &'static str> {
    use crate::{Field, pick};
    if c.schedule_kind == "series" {
        return self::series::ready_to_approve(c);
    }
    for ch in &c.channels {
        let ok = match ch.as_str() {
            "email" => {
                pick(&c.templates, Lang::Ru, Field::EmailSubject).is_some()
                    && pick(&c.templates, Lang::Ru, Field::EmailText).is_some()
            }
            _ => pick(&c.templates, Lang::Ru, Field::Telegram).is_some(),
        };
        if !ok {
            return Err(
                "every chosen channel needs its template (email: subject and text; Telegram: telegram) in at least one language",
            );
        }
    }
    Ok(())
}
