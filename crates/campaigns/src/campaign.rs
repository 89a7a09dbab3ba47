//! Campaigns as the scheduler and the notifier read them (the
//! [`lifecycle`](crate::lifecycle) writes them), and the rendering of their messages, shared by the admin
//! preview and the sender so that what an organiser previews is what goes
//! out.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use minijinja::{Environment, Value};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::schedule::{self, AwarenessDay, Schedule, ScheduleError};
use nasvyazi_platform::i18n::Lang;

/// The message texts of one language. Templates are minijinja; every
/// substituted value is escaped for HTML (email HTML, Telegram).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageTemplates {
    pub email_subject: Option<String>,
    pub email_text: Option<String>,
    /// Optional: without it, the HTML part is made from the text.
    pub email_html: Option<String>,
    /// Telegram HTML (b, i, u, s, a, code, pre, blockquote).
    pub telegram: Option<String>,
    /// Images (media ids: JPEG, PNG, GIF, WebP) sent inline (CID) at the
    /// top of the email's HTML part, with their alt text in the
    /// recipient's language; the text part stays complete without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 5)]
    pub email_media: Vec<Uuid>,
    /// Media sent with the Telegram text (media ids): one photo,
    /// animation, video or document with the text as its caption, or an
    /// album of 2-10 (`sendMediaGroup`, the caption on the first item). A
    /// text longer than a caption (1024) is split: the media carry the
    /// first part, the rest follows as text messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(max_items = 10)]
    pub telegram_media: Vec<Uuid>,
    /// A native anonymous poll (`sendPoll`, `is_anonymous` true) as the
    /// post to Telegram channels (`telegram_channel`, registered
    /// channels), after the `telegram` text if there is one (text first,
    /// then the poll); not with `telegram_media`. Direct messages to
    /// subscribers get the text only: a poll in a private chat is one
    /// person answering the organisation's bot, which is not anonymous in
    /// spirit even if Telegram hides the vote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_poll: Option<PollTemplate>,
}

/// A campaign's channel poll: 1-300 characters of question, 2-12 options
/// of 1-100 (Telegram's limits, [`crate::telegram::polls`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PollTemplate {
    pub question: String,
    pub options: Vec<String>,
    #[serde(default)]
    pub allows_multiple_answers: bool,
}

/// The channel poll of the post in `lang`: from the first language (kk ->
/// ru -> en) whose template has a Telegram text or a poll, so a text and
/// its poll never come from two languages; with that language, whose text
/// (if any) goes before the poll.
pub fn pick_telegram_poll(templates: &Templates, lang: Lang) -> Option<(Lang, &PollTemplate)> {
    lang.fallbacks().iter().find_map(|l| {
        let t = templates.get(l.code())?;
        let has_text = t.telegram.as_deref().is_some_and(|s| !s.trim().is_empty());
        if has_text || t.telegram_poll.is_some() {
            Some(t.telegram_poll.as_ref().map(|p| (*l, p)))
        } else {
            None
        }
    })?
}

/// Whether the template of `lang` itself (no fallback) has a Telegram text.
pub fn has_telegram_text(templates: &Templates, lang: Lang) -> bool {
    templates
        .get(lang.code())
        .and_then(|t| t.telegram.as_deref())
        .is_some_and(|s| !s.trim().is_empty())
}

/// The most images one email carries inline.
pub const EMAIL_MEDIA_MAX: usize = 5;
/// The media types an email may carry inline (images mail clients show).
pub const EMAIL_MEDIA_MIMES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// The inline images of the email in `lang`: those of the first language
/// (kk -> ru -> en) that has any.
pub fn pick_email_media(templates: &Templates, lang: Lang) -> &[Uuid] {
    lang.fallbacks()
        .iter()
        .find_map(|l| {
            templates
                .get(l.code())
                .map(|t| t.email_media.as_slice())
                .filter(|m| !m.is_empty())
        })
        .unwrap_or(&[])
}

/// The most media one Telegram post carries (an album).
pub const TELEGRAM_MEDIA_MAX: usize = 10;

/// The media of the Telegram message in `lang`: those of the language its
/// text comes from (kk -> ru -> en, the first with a Telegram text), so a
/// text and its pictures never come from two languages.
pub fn pick_telegram_media(templates: &Templates, lang: Lang) -> &[Uuid] {
    lang.fallbacks()
        .iter()
        .find_map(|l| {
            let t = templates.get(l.code())?;
            t.telegram
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|_| t.telegram_media.as_slice())
        })
        .unwrap_or(&[])
}

/// Templates per language code (`ru`, `kk`, `en`).
pub type Templates = BTreeMap<String, MessageTemplates>;

/// A campaign row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Campaign {
    pub id: Uuid,
    pub name: String,
    pub status: String,
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
    pub templates: sqlx::types::Json<Templates>,
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
    pub version: i32,
    /// The posts of a `series` (empty for other kinds).
    pub series: sqlx::types::Json<Vec<crate::series::SeriesPost>>,
}

pub const COLUMNS: &str = "id, name, status, schedule_kind, cron_expr, once_at, day_code, send_time, time_zone, \
     topics, languages, regions, channels, templates, quiet_start, quiet_end, version, series";

/// The channels a campaign can use.
pub const CHANNELS: &[&str] = &["email", "telegram", "telegram_channel"];

impl Campaign {
    pub async fn load(db: &PgPool, id: Uuid) -> sqlx::Result<Option<Campaign>> {
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM campaigns WHERE id = $1"))
            .bind(id)
            .fetch_optional(db)
            .await
    }

    pub fn tz(&self) -> Result<Tz, ScheduleError> {
        schedule::parse_tz(&self.time_zone)
    }

    /// The schedule, given the calendar (built-in and custom days).
    pub fn schedule(&self, days: &[AwarenessDay]) -> Result<Schedule, ScheduleError> {
        match self.schedule_kind.as_str() {
            "cron" => Ok(Schedule::Cron(Box::new(schedule::parse_cron(
                self.cron_expr.as_deref().unwrap_or(""),
            )?))),
            "once" => Ok(Schedule::Once(self.once_at.clone())),
            // Each post's instant once, as a `once` campaign's.
            "series" => Ok(Schedule::Once(self.series.iter().map(|p| p.at).collect())),
            _ => {
                let code = self.day_code.as_deref().unwrap_or("");
                let d = days
                    .iter()
                    .find(|d| d.code == code)
                    .ok_or(ScheduleError::UnknownDay)?;
                Ok(Schedule::Yearly {
                    month: d.month,
                    day: d.day,
                    time: self
                        .send_time
                        .unwrap_or(NaiveTime::from_hms_opt(10, 0, 0).unwrap()),
                })
            }
        }
    }
}

/// Built-in days plus the ones organisers added.
pub async fn calendar(db: &PgPool) -> sqlx::Result<Vec<AwarenessDay>> {
    let custom: Vec<(String, i32, i32, String, String, String)> = sqlx::query_as(
        "SELECT code, month, day, name_ru, name_kk, name_en FROM awareness_days ORDER BY month, day",
    )
    .fetch_all(db)
    .await?;
    let mut days = schedule::builtin_days();
    days.extend(
        custom
            .into_iter()
            .map(|(code, m, d, ru, kk, en)| AwarenessDay {
                code,
                month: m as u32,
                day: d as u32,
                name: nasvyazi_supporters::regions::Names { ru, kk, en },
            }),
    );
    Ok(days)
}

/// Who a campaign reaches, as one SQL condition on `contacts c` (shared by
/// the notifier's fan-out and the console's live count, so the two never
/// disagree): active, not suppressed, on one of the channels, and matching
/// topics (a contact with no topics chose general updates only, so it gets
/// only campaigns without topics), language and region (empty: all).
/// Parameters `$n`..`$n+3`: contact channels, topics, languages, regions.
pub fn audience_condition(n: usize) -> String {
    let (ch, tp, lg, rg) = (n, n + 1, n + 2, n + 3);
    format!(
        "c.status = 'active'
  AND c.channel = ANY(${ch})
  AND (cardinality(${tp}::text[]) = 0 OR c.topics && ${tp}::text[])
  AND (cardinality(${lg}::text[]) = 0 OR c.language = ANY(${lg}))
  AND (cardinality(${rg}::text[]) = 0 OR c.region = ANY(${rg}))
  AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.channel = c.channel AND s.blind_index = c.blind_index)"
    )
}

/// The campaign channels that are contacts' channels (the channel post is
/// not sent to contacts).
pub fn contact_channels(channels: &[String]) -> Vec<&str> {
    channels
        .iter()
        .map(String::as_str)
        .filter(|c| *c == "email" || *c == "telegram")
        .collect()
}

/// Which template field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    EmailSubject,
    EmailText,
    EmailHtml,
    Telegram,
}

/// The template for `field` in `lang`, falling back kk -> ru -> en.
pub fn pick(templates: &Templates, lang: Lang, field: Field) -> Option<&str> {
    lang.fallbacks().iter().find_map(|l| {
        let t = templates.get(l.code())?;
        match field {
            Field::EmailSubject => t.email_subject.as_deref(),
            Field::EmailText => t.email_text.as_deref(),
            Field::EmailHtml => t.email_html.as_deref(),
            Field::Telegram => t.telegram.as_deref(),
        }
        .filter(|s| !s.trim().is_empty())
    })
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no {0} template in any language")]
    Missing(&'static str),
    #[error("template error: {0}")]
    Template(String),
}

pub use nasvyazi_telegram::text::escape_html;

/// Organisers' text templates: under the limits (fuel, output size).
fn text_env() -> Environment<'static> {
    let mut env = Environment::new();
    nasvyazi_platform::template_limits::limit(&mut env);
    env
}

fn html_env() -> Environment<'static> {
    let mut env = Environment::new();
    nasvyazi_platform::template_limits::limit(&mut env);
    env.set_formatter(|out, _state, value| {
        let s = value.to_string();
        if value.is_safe() {
            out.write_str(&s)?;
        } else {
            out.write_str(&escape_html(&s))?;
        }
        Ok(())
    });
    env
}

fn render(env: &Environment<'_>, src: &str, ctx: &Value) -> Result<String, RenderError> {
    nasvyazi_platform::template_limits::render(env, src, ctx).map_err(|e| {
        match nasvyazi_platform::template_limits::limit_of(&e) {
            Some(limit) => RenderError::Template(limit.to_string()),
            None => RenderError::Template(e.to_string()),
        }
    })
}

/// The first remote resource an email's HTML would load by itself when
/// opened (an image, a style sheet, a background, a font), if any: each is
/// a tracking pixel that tells whoever serves it the recipient's IP
/// address. Links (`<a href>`) load nothing and are fine.
pub fn remote_resource(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    // Attributes and CSS that load something, each followed by `=` or `(`.
    const LOADERS: &[&str] = &[
        "src",
        "srcset",
        "background",
        "poster",
        "data",
        "lowsrc",
        "dynsrc",
        "url",
        "@import",
        "xlink:href",
    ];
    let is_name =
        |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':' || b == b'@';
    for loader in LOADERS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(loader) {
            let at = from + i;
            from = at + loader.len();
            // `url(` is CSS wherever it stands (`background:url(...)`);
            // an attribute name must not be the end of a longer one.
            let before = |b: u8| {
                if *loader == "url" {
                    b.is_ascii_alphanumeric()
                } else {
                    is_name(b)
                }
            };
            if at > 0 && before(bytes[at - 1]) {
                continue;
            }
            let mut j = at + loader.len();
            if j < bytes.len() && is_name(bytes[j]) {
                continue;
            }
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if *loader == "@import" {
                // `@import "https://..."` or `@import url(...)`.
            } else if j < bytes.len() && (bytes[j] == b'=' || bytes[j] == b'(') {
                j += 1;
            } else {
                continue;
            }
            while j < bytes.len()
                && (bytes[j].is_ascii_whitespace() || bytes[j] == b'"' || bytes[j] == b'\'')
            {
                j += 1;
            }
            let rest = &lower[j..];
            let rest = rest
                .strip_prefix("url(")
                .unwrap_or(rest)
                .trim_start_matches(['"', '\'']);
            if rest.starts_with("http:")
                || rest.starts_with("https:")
                || rest.starts_with("//")
                || rest.starts_with("ftp:")
            {
                let end = html[at..]
                    .char_indices()
                    .nth(60)
                    .map_or(html.len(), |(k, _)| at + k);
                return Some(html[at..end].to_string());
            }
        }
    }
    // `<link rel=stylesheet href=...>` loads too.
    let mut from = 0;
    while let Some(i) = lower[from..].find("<link") {
        let at = from + i;
        let end = lower[at..].find('>').map_or(lower.len(), |e| at + e);
        let tag = &lower[at..end];
        if tag.contains("http:") || tag.contains("https:") || tag.contains("//") {
            return Some(html[at..end.min(at + 60)].to_string());
        }
        from = end;
    }
    None
}

/// Runs every template of a campaign once with stand-in values under the
/// limits (at save): `Err` says which limit a template goes over.
pub fn check_limits(
    templates: &Templates,
) -> Result<(), nasvyazi_platform::template_limits::Limit> {
    let ctx = stand_in();
    for m in templates.values() {
        for src in [&m.email_subject, &m.email_text, &m.email_html, &m.telegram]
            .into_iter()
            .flatten()
        {
            nasvyazi_platform::template_limits::check(src, &ctx)?;
        }
    }
    Ok(())
}

fn stand_in() -> Value {
    Value::from_serialize(Context {
        org: "Organisation".into(),
        campaign: "Campaign".into(),
        day: Some("Day".into()),
        unsubscribe_url: Some("https://example.org/u".into()),
        forget_url: Some("https://example.org/f".into()),
        survey_url: Some("https://example.org/surveys/s?t=T".into()),
    })
}

/// [`remote_resource`] of every `email_html` as rendered with stand-in
/// values (at save): an address put together by the template (`{{ 'ht' ~
/// 'tps://...' }}`) is not in its source.
pub fn remote_resource_rendered(templates: &Templates) -> Option<String> {
    let env = html_env();
    let ctx = stand_in();
    templates
        .values()
        .filter_map(|m| m.email_html.as_deref())
        .filter_map(|src| render(&env, src, &ctx).ok())
        .find_map(|out| remote_resource(&out))
}

/// Values a campaign template can use.
#[derive(Debug, Clone, Serialize)]
pub struct Context {
    pub org: String,
    pub campaign: String,
    /// The awareness day's name in the message's language, if any
    /// (absent values render as nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget_url: Option<String>,
    /// The recipient's own invitation link when the campaign invites to a
    /// survey (the web page by email, the bot's deep link on Telegram).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_url: Option<String>,
}

/// A rendered email.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn render_email(
    templates: &Templates,
    lang: Lang,
    ctx: &Context,
) -> Result<RenderedEmail, RenderError> {
    let value = Value::from_serialize(ctx);
    let text_env = text_env();
    let subject =
        pick(templates, lang, Field::EmailSubject).ok_or(RenderError::Missing("email_subject"))?;
    let text_src =
        pick(templates, lang, Field::EmailText).ok_or(RenderError::Missing("email_text"))?;
    let subject = render(&text_env, subject, &value)?.replace(['\r', '\n'], " ");
    let text = render(&text_env, text_src, &value)?;
    let html = match pick(templates, lang, Field::EmailHtml) {
        Some(src) => render(&html_env(), src, &value)?,
        None => text_to_html(&text),
    };
    // Checked at save too; here whatever the template put together is
    // refused before anyone receives (or previews) it.
    if let Some(found) = remote_resource(&html) {
        return Err(RenderError::Template(format!(
            "email_html loads a remote resource when opened ({found}...)"
        )));
    }
    Ok(RenderedEmail {
        subject,
        text,
        html,
    })
}

/// Paragraphs of escaped text, for emails written as text only.
pub fn text_to_html(text: &str) -> String {
    let paragraphs: Vec<String> = text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape_html(p.trim()).replace('\n', "<br>\n")))
        .collect();
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family:Arial,Helvetica,sans-serif;line-height:1.5\">\n{}\n</body></html>\n",
        paragraphs.join("\n")
    )
}

pub fn render_telegram(
    templates: &Templates,
    lang: Lang,
    ctx: &Context,
) -> Result<String, RenderError> {
    let src = pick(templates, lang, Field::Telegram).ok_or(RenderError::Missing("telegram"))?;
    render(&html_env(), src, &Value::from_serialize(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_resources_are_found_and_links_are_not() {
        for bad in [
            "<img src=\"https://t.example/p.gif\">",
            "<img SRC = 'http://t.example/p.gif'>",
            "<img src=//t.example/p.gif>",
            "<td background=\"https://t.example/bg.png\">",
            "<div style=\"background-image: url('https://t.example/x')\">",
            "<style>@import \"https://t.example/s.css\";</style>",
            "<link rel=stylesheet href=\"https://t.example/s.css\">",
            "<img srcset=\"https://t.example/a.png 2x\">",
            "<div style=\"background:url(https://t.example/x)\">",
            "<p style=\"x:1;background-image:url( 'https://t.example/x')\">",
        ] {
            assert!(remote_resource(bad).is_some(), "{bad}");
        }
        for ok in [
            "<p>Hello <a href=\"https://forum.example.kz/\">site</a></p>",
            "<img src=\"cid:logo\">",
            "<p>source: https://example.org</p>",
        ] {
            assert_eq!(remote_resource(ok), None, "{ok}");
        }
    }

    fn templates() -> Templates {
        let mut t = Templates::new();
        t.insert(
            "ru".into(),
            MessageTemplates {
                email_subject: Some("{{ day }}".into()),
                email_text: Some(
                    "Привет от {{ org }}!\n\nОтписаться: {{ unsubscribe_url }}".into(),
                ),
                email_html: None,
                telegram: Some("<b>{{ day }}</b> от {{ org }}".into()),
                ..Default::default()
            },
        );
        t.insert(
            "kk".into(),
            MessageTemplates {
                email_subject: Some("Қазақша: {{ day }}".into()),
                ..Default::default()
            },
        );
        t
    }

    fn ctx() -> Context {
        Context {
            org: "Forum <KZ> & Co".into(),
            campaign: "x".into(),
            day: Some("День".into()),
            unsubscribe_url: Some("https://e.kz/u/T".into()),
            forget_url: None,
            survey_url: None,
        }
    }

    #[test]
    fn kazakh_falls_back_to_russian_field_by_field() {
        let t = templates();
        let e = render_email(&t, Lang::Kk, &ctx()).unwrap();
        assert_eq!(e.subject, "Қазақша: День");
        assert!(e.text.starts_with("Привет от Forum <KZ> & Co!"));
        assert!(e.html.contains("Forum &lt;KZ&gt; &amp; Co"), "{}", e.html);
        let en = render_email(&t, Lang::En, &ctx()).unwrap();
        assert_eq!(en.subject, "День", "en falls back to ru");
    }

    #[test]
    fn telegram_escapes_substituted_values_only() {
        let tg = render_telegram(&templates(), Lang::Ru, &ctx()).unwrap();
        assert_eq!(tg, "<b>День</b> от Forum &lt;KZ&gt; &amp; Co");
        assert!(matches!(
            render_telegram(&Templates::new(), Lang::Ru, &ctx()),
            Err(RenderError::Missing("telegram"))
        ));
    }
}

/// Stand-ins for the per-recipient links while a campaign's email is
/// rendered once per language (letters and digits only, so no escaping or
/// line folding changes them).
const UNSUBSCRIBE_STAND_IN: &str = "nvzUnsubscribeUrlStandIn7q";
const FORGET_STAND_IN: &str = "nvzForgetUrlStandIn7q";

/// A campaign email rendered once for every recipient of a language: only
/// the recipient's own links differ, and they are put in by
/// [`SharedEmail::personalise`] (a string replacement instead of a render
/// per message).
#[derive(Debug, Clone)]
pub struct SharedEmail(RenderedEmail);

impl SharedEmail {
    /// Renders with stand-ins for the links. `None` when the templates
    /// transform the links (a filter on `unsubscribe_url`, say), so a
    /// stand-in does not come out as written: such a campaign is rendered
    /// per recipient.
    pub fn render(
        templates: &Templates,
        lang: Lang,
        ctx: &Context,
    ) -> Result<Option<SharedEmail>, RenderError> {
        let mut ctx = ctx.clone();
        ctx.unsubscribe_url = Some(UNSUBSCRIBE_STAND_IN.into());
        ctx.forget_url = Some(FORGET_STAND_IN.into());
        let rendered = render_email(templates, lang, &ctx)?;
        let sources = [Field::EmailSubject, Field::EmailText, Field::EmailHtml]
            .into_iter()
            .filter_map(|f| pick(templates, lang, f))
            .collect::<Vec<_>>()
            .join("\n");
        let all = format!("{}\n{}\n{}", rendered.subject, rendered.text, rendered.html);
        for (name, stand_in) in [
            ("unsubscribe_url", UNSUBSCRIBE_STAND_IN),
            ("forget_url", FORGET_STAND_IN),
        ] {
            if sources.contains(name) && !all.contains(stand_in) {
                return Ok(None);
            }
        }
        Ok(Some(SharedEmail(rendered)))
    }

    /// The email of one recipient: its links in place of the stand-ins
    /// (escaped in the HTML part as the template's output would be).
    pub fn personalise(&self, unsubscribe_url: &str, forget_url: &str) -> RenderedEmail {
        let put = |s: &str, html: bool| {
            let (u, f) = if html {
                (escape_html(unsubscribe_url), escape_html(forget_url))
            } else {
                (unsubscribe_url.to_string(), forget_url.to_string())
            };
            s.replace(UNSUBSCRIBE_STAND_IN, &u)
                .replace(FORGET_STAND_IN, &f)
        };
        RenderedEmail {
            subject: put(&self.0.subject, false),
            text: put(&self.0.text, false),
            html: put(&self.0.html, true),
        }
    }
}

#[cfg(test)]
mod shared_email_tests {
    use super::*;

    fn ctx(unsubscribe: &str, forget: &str) -> Context {
        Context {
            org: "Forum <KZ> & Co".into(),
            campaign: "x".into(),
            day: Some("День".into()),
            unsubscribe_url: Some(unsubscribe.into()),
            forget_url: Some(forget.into()),
            survey_url: None,
        }
    }

    fn templates(html: Option<&str>, text: &str) -> Templates {
        let mut t = Templates::new();
        t.insert(
            "ru".into(),
            MessageTemplates {
                email_subject: Some("{{ day }} — {{ org }}".into()),
                email_text: Some(text.into()),
                email_html: html.map(str::to_string),
                telegram: None,
                ..Default::default()
            },
        );
        t
    }

    /// Rendered once and personalised is byte-identical to rendered per
    /// recipient, in the text and the (escaped) HTML part.
    #[test]
    fn personalised_equals_rendered_per_recipient() {
        let (u, f) = (
            "https://e.kz/u/T0k?lang=ru&x=<1>",
            "https://e.kz/forget/T0k?lang=ru&y=\"2\"",
        );
        for t in [
            templates(
                Some("<p>{{ org }}</p><a href=\"{{ unsubscribe_url }}\">x</a> {{ forget_url }}"),
                "Привет от {{ org }}!\n\nОтписаться: {{ unsubscribe_url }}\n{{ forget_url }}",
            ),
            templates(None, "Текст {{ unsubscribe_url }}\n\nи {{ forget_url }}"),
            templates(None, "без ссылок"),
        ] {
            let direct = render_email(&t, Lang::Ru, &ctx(u, f)).unwrap();
            let shared = SharedEmail::render(&t, Lang::Ru, &ctx("-", "-"))
                .unwrap()
                .expect("plain links are shared");
            let p = shared.personalise(u, f);
            assert_eq!(p.subject, direct.subject);
            assert_eq!(p.text, direct.text);
            assert_eq!(p.html, direct.html);
        }
    }

    /// A template that transforms a link is rendered per recipient.
    #[test]
    fn a_transformed_link_is_not_shared() {
        let t = templates(None, "{{ unsubscribe_url | upper }}");
        assert!(
            SharedEmail::render(&t, Lang::Ru, &ctx("a", "b"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_channel_poll_comes_with_its_own_languages_text() {
        let poll = PollTemplate {
            question: "Q?".into(),
            options: vec!["a".into(), "b".into()],
            allows_multiple_answers: false,
        };
        let mut t = Templates::new();
        t.insert(
            "ru".into(),
            MessageTemplates {
                telegram: Some("ru".into()),
                telegram_poll: Some(poll.clone()),
                ..Default::default()
            },
        );
        t.insert(
            "kk".into(),
            MessageTemplates {
                telegram: Some("kk".into()),
                ..Default::default()
            },
        );
        // kk has its own text and no poll: a text post, not ru's poll.
        assert_eq!(pick_telegram_poll(&t, Lang::Kk), None);
        assert_eq!(pick_telegram_poll(&t, Lang::Ru), Some((Lang::Ru, &poll)));
        // en has nothing: falls back to ru's text and poll.
        assert_eq!(pick_telegram_poll(&t, Lang::En), Some((Lang::Ru, &poll)));
        assert!(has_telegram_text(&t, Lang::Ru));
        assert!(!has_telegram_text(&t, Lang::En));
        // A poll alone in kk.
        t.get_mut("kk").unwrap().telegram = None;
        t.get_mut("kk").unwrap().telegram_poll = Some(poll.clone());
        assert_eq!(pick_telegram_poll(&t, Lang::Kk), Some((Lang::Kk, &poll)));
        let json = serde_json::to_value(&t["ru"]).unwrap();
        assert_eq!(
            json["telegram_poll"],
            serde_json::json!({"question": "Q?", "options": ["a", "b"], "allows_multiple_answers": false})
        );
        assert!(
            serde_json::to_value(MessageTemplates::default())
                .unwrap()
                .get("telegram_poll")
                .is_none()
        );
    }
}
