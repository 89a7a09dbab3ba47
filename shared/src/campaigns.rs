//! Campaigns as the scheduler and the notifier read them (intake writes
//! them), and the rendering of their messages, shared by the admin
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

use crate::i18n::Lang;
use crate::schedule::{self, AwarenessDay, Schedule, ScheduleError};

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
}

pub const COLUMNS: &str = "id, name, status, schedule_kind, cron_expr, once_at, day_code, send_time, time_zone, \
     topics, languages, regions, channels, templates, quiet_start, quiet_end, version";

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
                name: crate::regions::Names { ru, kk, en },
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

/// Escapes text for HTML and Telegram HTML: `&`, `<`, `>`, `"`.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn html_env() -> Environment<'static> {
    let mut env = Environment::new();
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
    env.render_str(src, ctx)
        .map_err(|e| RenderError::Template(e.to_string()))
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
    let text_env = Environment::new();
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
