//! Scheduled series ("content plan", issue 16): `"schedule": { "kind":
//! "series", "posts": [{ "at": "2026-12-05T10:00", "channels": [...],
//! "templates": {...} }] }`. Each post is checked as a campaign's own
//! channels and templates are (a post without channels goes to the
//! campaign's `audience.channels`), and no two posts may fall on the same
//! instant (each instant is one occurrence, and sends one post).

use crate::schedule;
use crate::series::{MAX_POSTS, SeriesPost, format_local};
use crate::{CHANNELS, Campaign};
use nasvyazi_platform::i18n::Lang;
use sqlx::PgPool;

use super::Invalid;
use super::Valid;

fn invalid(reason: impl Into<String>) -> Invalid {
    Invalid {
        field: "schedule.posts",
        reason: reason.into(),
    }
}

/// The posts as stored (sorted by time), or what is wrong with them.
pub fn validate(posts: &[SeriesPost], time_zone: &str) -> Result<Vec<SeriesPost>, Invalid> {
    if posts.is_empty() || posts.len() > MAX_POSTS {
        return Err(invalid(format!("1 to {MAX_POSTS} posts")));
    }
    let tz = schedule::parse_tz(time_zone)
        .map_err(|_| invalid("the campaign's time_zone is not valid"))?;
    let mut out: Vec<SeriesPost> = Vec::with_capacity(posts.len());
    for p in posts {
        let at = format_local(&p.at);
        let instant = schedule::local_to_instant(tz, p.at);
        if let Some(other) = out
            .iter()
            .find(|o| schedule::local_to_instant(tz, o.at) == instant)
        {
            return Err(invalid(format!(
                "{at}: another post is at the same time ({}); one post per date and time",
                format_local(&other.at)
            )));
        }
        let mut channels: Vec<String> = Vec::with_capacity(p.channels.len());
        for c in &p.channels {
            let known = match super::telegram_media::registered_channel(c) {
                Some(id) => id.is_some(),
                None => CHANNELS.contains(&c.as_str()),
            };
            if !known {
                return Err(invalid(format!(
                    "{at}: channel `{c}`: email, telegram, telegram_channel or telegram_channel:<registered channel id>"
                )));
            }
            if !channels.contains(c) {
                channels.push(c.clone());
            }
        }
        if p.templates.is_empty() {
            return Err(invalid(format!("{at}: the post needs its templates")));
        }
        if p.templates.keys().any(|l| Lang::parse(l).is_none()) {
            return Err(invalid(format!(
                "{at}: templates keys are language codes: ru, kk, en"
            )));
        }
        super::check_templates(&p.templates)
            .map_err(|e| invalid(format!("{at}: {}: {}", e.field, e.reason)))?;
        out.push(SeriesPost {
            at: p.at,
            channels,
            templates: p.templates.clone(),
        });
    }
    out.sort_by_key(|p| p.at);
    Ok(out)
}

/// What needs the database: each post's media (as a campaign's) and its
/// registered channels.
pub async fn check(db: &PgPool, valid: &Valid) -> anyhow::Result<Result<(), Invalid>> {
    for p in &valid.series {
        let at = format_local(&p.at);
        let channels = if p.channels.is_empty() {
            &valid.channels
        } else {
            &p.channels
        };
        let post = |e: Invalid| invalid(format!("{at}: {}: {}", e.field, e.reason));
        if let Err(e) = super::email_media::check(db, &p.templates).await? {
            return Ok(Err(post(e)));
        }
        if let Err(e) = super::telegram_media::check(db, &p.templates, channels).await? {
            return Ok(Err(post(e)));
        }
    }
    Ok(Ok(()))
}

/// Approval of a series: every post has the templates its channels need.
pub fn ready_to_approve(c: &Campaign) -> Result<(), &'static str> {
    let tz = c
        .tz()
        .map_err(|_| "the campaign's time zone is not valid")?;
    if c.series.is_empty() {
        return Err("a series needs at least one post");
    }
    for p in c.series.iter() {
        let mut post = c
            .at_occurrence(schedule::local_to_instant(tz, p.at))
            .into_owned();
        post.schedule_kind = "once".into();
        super::ready_to_approve(&post)
            .map_err(|_| "every post of the series needs the templates of its channels (email: subject and text; Telegram: telegram) in at least one language")?;
    }
    Ok(())
}
