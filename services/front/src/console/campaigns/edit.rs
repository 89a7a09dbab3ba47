//! Editing a campaign (a draft or a paused one): the schedule (an awareness
//! day, dates and times in the campaign's time zone, or cron), the audience
//! with the count of matching recipients (server-side; the script only
//! asks again when a box is ticked), and the texts per language and
//! channel with the preview (email and Telegram side by side).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use nasvyazi_campaigns::{self as shared, CHANNELS, Campaign, MessageTemplates};
use nasvyazi_shared::i18n::Lang;
use nasvyazi_supporters::contacts::topics;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    ROLES, Refusal, TIME_ZONES, api_problem, input_of, load, preview, save, schedule_words,
};
use crate::AppState;
use crate::api::admin_campaigns as api;
use crate::console::page::{Form, PageResult, done, render, render_status};
use crate::console::session::Session;
use nasvyazi_campaigns::input::{QuietHours, ScheduleInput};

/// How many active supporters a campaign would reach, per channel: the
/// notifier's audience condition (`campaigns::audience_condition`), counted
/// instead of queued.
#[derive(Debug, Default, Serialize)]
pub struct AudienceCount {
    pub email: i64,
    pub telegram: i64,
    /// One post to the public channel (or to registered ones).
    pub channel_post: bool,
    /// How many channels get a post (the configured one and registered ones).
    pub channel_posts: usize,
    pub total: i64,
}

pub async fn count(
    state: &AppState,
    channels: &[String],
    topics: &[String],
    languages: &[String],
    regions: &[String],
) -> sqlx::Result<AudienceCount> {
    let contact_channels = nasvyazi_campaigns::contact_channels(channels);
    let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
        "SELECT c.channel, count(*) FROM contacts c WHERE {} GROUP BY 1",
        nasvyazi_campaigns::audience_condition(1)
    ))
    .bind(&contact_channels)
    .bind(topics)
    .bind(languages)
    .bind(regions)
    .fetch_all(&state.infra.db)
    .await?;
    let posts = channels
        .iter()
        .filter(|c| {
            *c == "telegram_channel"
                || nasvyazi_campaigns::input::telegram_media::registered_channel(c).is_some()
        })
        .count();
    let mut out = AudienceCount {
        channel_post: posts > 0,
        channel_posts: posts,
        ..Default::default()
    };
    for (channel, n) in rows {
        match channel.as_str() {
            "email" => out.email = n,
            _ => out.telegram = n,
        }
    }
    out.total = out.email + out.telegram;
    Ok(out)
}

/// `GET /admin/campaigns/{id}/schedule`.
pub async fn schedule_form(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    schedule_page(&state, &s, &uri, &c, StatusCode::OK, None).await
}

async fn schedule_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    c: &Campaign,
    status: StatusCode,
    error: Option<Refusal>,
) -> PageResult {
    let lang = s.user.lang;
    let days = shared::calendar(&state.infra.db).await?;
    let day_options: Vec<_> = days
        .iter()
        .map(|d| {
            minijinja::context! {
                code => &d.code,
                name => d.name.get(lang.code()),
                date => format!("{:02}.{:02}", d.day, d.month),
            }
        })
        .collect();
    let mut zones: Vec<&str> = TIME_ZONES.to_vec();
    if !zones.contains(&c.time_zone.as_str()) {
        zones.insert(0, &c.time_zone);
    }
    let mut once: Vec<String> = c
        .once_at
        .iter()
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .collect();
    once.push(String::new());
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        "console/campaign_schedule.html",
        status,
        minijinja::context! {
            campaign => minijinja::context! {
                id => c.id, name => &c.name, kind => &c.schedule_kind, day => &c.day_code,
                time => c.send_time.map(|t| t.format("%H:%M").to_string()).unwrap_or_else(|| "10:00".into()),
                cron => &c.cron_expr, time_zone => &c.time_zone,
                quiet_start => c.quiet_start.format("%H:%M").to_string(),
                quiet_end => c.quiet_end.format("%H:%M").to_string(),
            },
            once, days => day_options, zones,
            schedule => schedule_words(c, &days, lang),
            editable => matches!(c.status.as_str(), "draft" | "paused"),
            error => error.as_ref().map(|e| e.key.clone()),
            error_detail => error.and_then(|e| e.detail),
        },
    ))
}

/// `POST /admin/campaigns/{id}/schedule`.
pub async fn schedule_save(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let c = load(&state, id).await?;
    let mut input = input_of(&c);
    input.name = form.get("name").to_string();
    input.time_zone = Some(form.get("time_zone").to_string()).filter(|z| !z.is_empty());
    input.schedule = match form.get("kind") {
        "once" => ScheduleInput::Once { at: form.all("at") },
        "cron" => ScheduleInput::Cron {
            cron: form.get("cron").to_string(),
        },
        _ => ScheduleInput::Day {
            day: form.get("day").to_string(),
            time: Some(form.get("time").to_string()).filter(|t| !t.is_empty()),
        },
    };
    input.quiet_hours = Some(QuietHours {
        start: form.get("quiet_start").to_string(),
        end: form.get("quiet_end").to_string(),
    });
    match save(&state, &s, Some(id), &input).await? {
        Ok(_) => Ok(done(&format!("/admin/campaigns/{id}"), "saved")),
        Err(refusal) => {
            schedule_page(
                &state,
                &s,
                &uri,
                &c,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(refusal),
            )
            .await
        }
    }
}

/// The audience as a form sends it (also the count's query string).
#[derive(Debug, Default, Deserialize)]
pub struct AudienceQuery {
    #[serde(default)]
    pub topics: Vec<String>,
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub channels: Vec<String>,
}

/// `GET /admin/campaigns/{id}/audience`.
pub async fn audience_form(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    let chosen = AudienceQuery {
        topics: c.topics.clone(),
        languages: c.languages.clone(),
        regions: c.regions.clone(),
        channels: c.channels.clone(),
    };
    audience_page(&state, &s, &uri, &c, &chosen, StatusCode::OK, None).await
}

async fn audience_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    c: &Campaign,
    chosen: &AudienceQuery,
    status: StatusCode,
    error: Option<String>,
) -> PageResult {
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let lang = s.user.lang;
    let region_options: Vec<_> = regions
        .iter()
        .map(|r| minijinja::context! { code => &r.code, name => r.name.get(lang.code()) })
        .collect();
    let counted = count(
        state,
        &chosen.channels,
        &chosen.topics,
        &chosen.languages,
        &chosen.regions,
    )
    .await?;
    let registered: Vec<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT id, chat, title, language FROM telegram_channels ORDER BY title, id",
    )
    .fetch_all(&state.infra.db)
    .await?;
    let registered: Vec<_> = registered
        .iter()
        .map(|(id, chat, title, language)| {
            minijinja::context! {
                value => format!("{}{id}", nasvyazi_campaigns::input::telegram_media::CHANNEL_PREFIX),
                chat, title, language,
            }
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        "console/campaign_audience.html",
        status,
        minijinja::context! {
            campaign => minijinja::context! { id => c.id, name => &c.name },
            chosen => minijinja::context! {
                topics => &chosen.topics, languages => &chosen.languages,
                regions => &chosen.regions, channels => &chosen.channels,
            },
            topics => topics(), regions => region_options, channels => CHANNELS, registered,
            langs => ["ru", "kk", "en"],
            count => counted,
            editable => matches!(c.status.as_str(), "draft" | "paused"),
            error,
        },
    ))
}

/// `POST /admin/campaigns/{id}/audience`: `action=count` shows the count
/// for the ticked boxes without saving; `action=save` saves.
pub async fn audience_save(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let c = load(&state, id).await?;
    let chosen = AudienceQuery {
        topics: form.all("topics"),
        languages: form.all("languages"),
        regions: form.all("regions"),
        channels: form.all("channels"),
    };
    if form.get("action") == "count" {
        return audience_page(&state, &s, &uri, &c, &chosen, StatusCode::OK, None).await;
    }
    let mut input = input_of(&c);
    input.audience.topics = chosen.topics.clone();
    input.audience.languages = chosen.languages.clone();
    input.audience.regions = chosen.regions.clone();
    // Registered channels (`telegram_channel:<id>`) are boxes like the rest.
    input.audience.channels = chosen.channels.clone();
    match save(&state, &s, Some(id), &input).await? {
        Ok(_) => Ok(done(&format!("/admin/campaigns/{id}"), "saved")),
        Err(refusal) => {
            audience_page(
                &state,
                &s,
                &uri,
                &c,
                &chosen,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(refusal.key),
            )
            .await
        }
    }
}

/// `GET /admin/campaigns/{id}/audience/count?topics=...`: the count alone,
/// for the page's script (read-only).
pub async fn count_fragment(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    // Repeated keys (`topics=a&topics=b`): parsed by hand, as forms are.
    let pairs = crate::pages::parse_form(uri.query().unwrap_or("").as_bytes());
    let all = |k: &str| -> Vec<String> {
        pairs
            .iter()
            .filter(|(key, v)| key == k && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    };
    let counted = count(
        &state,
        &all("channels"),
        &all("topics"),
        &all("languages"),
        &all("regions"),
    )
    .await?;
    Ok(render(
        &state,
        &s,
        &uri,
        "campaigns",
        "console/count.html",
        minijinja::context! {
            count => counted,
            campaign => minijinja::context! { id => c.id },
        },
    ))
}

#[derive(Deserialize)]
pub struct TextsQuery {
    pub lang: Option<String>,
    pub done: Option<String>,
}

/// `GET /admin/campaigns/{id}/texts?lang=ru`.
pub async fn texts_form(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<TextsQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::Ru);
    let notice = crate::console::page::notice(q.done.as_deref());
    let own = c.templates.get(lang.code()).cloned().unwrap_or_default();
    texts_page(
        &state,
        &s,
        &uri,
        &c,
        lang,
        own,
        None,
        StatusCode::OK,
        notice,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn texts_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    c: &Campaign,
    lang: Lang,
    own: MessageTemplates,
    error: Option<Refusal>,
    status: StatusCode,
    notice: Option<String>,
) -> PageResult {
    let email = api::render_preview(state, c, lang, "email").await;
    let telegram = api::render_preview(state, c, lang, "telegram").await;
    let email = match email {
        Ok(p) => p.email.map(|e| {
            minijinja::context! { subject => e.subject, text => e.text }
        }),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => None,
        Err(e) => return Err(api_problem(e)),
    };
    let library = library(state).await?;
    let media_error = error.as_ref().and_then(media_refusal);
    let error = if media_error.is_some() { None } else { error };
    let view = |item: &LibraryItem| {
        let alt = [lang.code(), "ru", "kk", "en"]
            .iter()
            .map(|l| item.alt(l))
            .find(|a| !a.is_empty())
            .unwrap_or("");
        let (size, unit) = if item.bytes < 1_048_576 {
            (((item.bytes + 1023) / 1024).to_string(), "kb")
        } else {
            (format!("{:.1}", item.bytes as f64 / 1_048_576.0), "mb")
        };
        minijinja::context! {
            id => item.id.to_string(), kind => &item.kind, alt, size, unit,
            thumb => item.kind == "image" || item.mime == "image/gif",
        }
    };
    let telegram_library: Vec<_> = library
        .iter()
        .filter(|m| m.for_telegram())
        .map(view)
        .collect();
    let email_library: Vec<_> = library.iter().filter(|m| m.for_email()).map(view).collect();
    let ids = |v: &[Uuid]| v.iter().map(Uuid::to_string).collect::<Vec<_>>();
    let (telegram, telegram_post) = match telegram {
        Ok(p) => (
            p.telegram.map(|t| preview::telegram_html(&t)),
            p.telegram_post.map(|post| preview::post(&post)),
        ),
        Err(e) if e.status == StatusCode::UNPROCESSABLE_ENTITY => (None, None),
        Err(e) => return Err(api_problem(e)),
    };
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        "console/campaign_texts.html",
        status,
        minijinja::context! {
            campaign => minijinja::context! {
                id => c.id, name => &c.name, channels => &c.channels,
                day => c.day_code.is_some(),
                telegram => c.channels.iter().any(|ch| ch.starts_with("telegram")),
            },
            text_lang => lang.code(),
            own => minijinja::context! {
                email_subject => own.email_subject, email_text => own.email_text,
                telegram => own.telegram,
                telegram_media => ids(&own.telegram_media), email_media => ids(&own.email_media),
            },
            telegram_library, email_library,
            telegram_max => nasvyazi_campaigns::TELEGRAM_MEDIA_MAX,
            email_max => nasvyazi_campaigns::EMAIL_MEDIA_MAX,
            media_error => media_error.as_ref().map(|e| minijinja::context! {
                part => e.part, key => &e.key, detail => &e.detail,
            }),
            preview => minijinja::context! {
                email, telegram_html => telegram, telegram_post,
                from => &state.infra.config.email.from,
            },
            editable => matches!(c.status.as_str(), "draft" | "paused"),
            error => error.as_ref().map(|e| e.key.clone()),
            error_detail => error.and_then(|e| e.detail),
            notice,
        },
    ))
}

/// `POST /admin/campaigns/{id}/texts?lang=ru`: saves this language's texts
/// (an empty field falls back to another language), then shows the preview.
pub async fn texts_save(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<TextsQuery>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let c = load(&state, id).await?;
    let lang = Lang::parse(form.get("text_lang"))
        .or_else(|| q.lang.as_deref().and_then(Lang::parse))
        .unwrap_or(Lang::Ru);
    let mut input = input_of(&c);
    let field = |k: &str| {
        let v = form.raw(k).replace("\r\n", "\n");
        (!v.trim().is_empty()).then_some(v)
    };
    let keep_html = c
        .templates
        .get(lang.code())
        .and_then(|t| t.email_html.clone());
    let stored = c.templates.get(lang.code()).cloned().unwrap_or_default();
    // The media boxes, when the page showed them (a channel not chosen has
    // none: its media stay as they were), in the library's order.
    let library = library(&state).await?;
    let chosen = |part: &str, kept: &[Uuid]| -> Vec<Uuid> {
        if form.get(&format!("{part}_shown")) != "1" {
            return kept.to_vec();
        }
        let mut ids: Vec<Uuid> = Vec::new();
        for id in form
            .all(part)
            .iter()
            .filter_map(|v| Uuid::parse_str(v).ok())
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let at = |id: &Uuid| {
            library
                .iter()
                .position(|m| m.id == *id)
                .unwrap_or(usize::MAX)
        };
        ids.sort_by_key(at);
        ids
    };
    let t = MessageTemplates {
        email_subject: field("email_subject").map(|v| v.trim().to_string()),
        email_text: field("email_text"),
        email_html: keep_html,
        telegram: field("telegram"),
        email_media: chosen("email_media", &stored.email_media),
        telegram_media: chosen("telegram_media", &stored.telegram_media),
        telegram_poll: stored.telegram_poll.clone(),
    };
    if t == MessageTemplates::default() {
        input.templates.remove(lang.code());
    } else {
        input.templates.insert(lang.code().to_string(), t.clone());
    }
    match save(&state, &s, Some(id), &input).await? {
        Ok(_) => Ok(done(
            &format!("/admin/campaigns/{id}/texts?lang={}", lang.code()),
            "saved",
        )),
        Err(refusal) => {
            texts_page(
                &state,
                &s,
                &uri,
                &c,
                lang,
                t,
                Some(refusal),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            )
            .await
        }
    }
}

/// A file of the media library as the texts page offers it.
#[derive(sqlx::FromRow)]
struct LibraryItem {
    id: Uuid,
    kind: String,
    mime: String,
    bytes: i64,
    alt_ru: String,
    alt_kk: String,
    alt_en: String,
}

impl LibraryItem {
    fn alt(&self, lang: &str) -> &str {
        match lang {
            "kk" => &self.alt_kk,
            "en" => &self.alt_en,
            _ => &self.alt_ru,
        }
    }

    /// What Telegram takes as a photo, animation, video or document (the
    /// rule of `campaigns::telegram_media`).
    fn for_telegram(&self) -> bool {
        match self.kind.as_str() {
            "image" => matches!(
                self.mime.as_str(),
                "image/jpeg" | "image/png" | "image/webp"
            ),
            "animation" | "video" | "document" => true,
            _ => false,
        }
    }

    /// An image an email carries inline.
    fn for_email(&self) -> bool {
        nasvyazi_campaigns::EMAIL_MEDIA_MIMES.contains(&self.mime.as_str())
    }
}

/// The library in its own order (newest first, as `/admin/media` lists it).
async fn library(state: &AppState) -> sqlx::Result<Vec<LibraryItem>> {
    sqlx::query_as(
        "SELECT id, kind, mime, bytes, alt_ru, alt_kk, alt_en FROM media \
         ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .fetch_all(&state.infra.db)
    .await
}

/// A refusal of the chosen media, shown next to their boxes.
struct MediaRefusal {
    /// `telegram` or `email`.
    part: &'static str,
    key: String,
    /// The API's reason, when no message of the catalog says it.
    detail: Option<String>,
}

/// The media refusals of `campaigns::{telegram_media, email_media}` in the
/// reader's words (their reasons are the API's, in English).
fn media_refusal(r: &Refusal) -> Option<MediaRefusal> {
    let part = match r.key.as_str() {
        "console.invalid.templates_telegram_media" => "telegram",
        "console.invalid.templates_email_media" => "email",
        _ => return None,
    };
    let reason = r.detail.as_deref().unwrap_or("");
    let known: &[(&str, &str)] = match part {
        "telegram" => &[
            (
                "animation (GIF) cannot be part of an album",
                "tg_animation_album",
            ),
            ("documents can be grouped only", "tg_documents_mixed"),
            ("files per post", "tg_too_many"),
            ("cannot be sent to Telegram", "tg_unfit"),
            ("not in the media library", "not_in_library"),
        ],
        _ => &[
            ("images per email", "email_too_many"),
            ("add up to", "email_too_big"),
            ("images only", "email_not_image"),
            ("not in the media library", "not_in_library"),
        ],
    };
    Some(
        match known.iter().find(|(needle, _)| reason.contains(needle)) {
            Some((_, key)) => MediaRefusal {
                part,
                key: format!("console.editor.{key}"),
                detail: None,
            },
            None => MediaRefusal {
                part,
                key: r.key.clone(),
                detail: r.detail.clone(),
            },
        },
    )
}
