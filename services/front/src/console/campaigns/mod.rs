//! Campaigns in the console (role organiser or admin): the list, a new
//! campaign from an awareness-day preset (one tap: a draft with starter
//! texts in ru / kk / en) or from a date and time, the overview (status,
//! the next five occurrences in words, audience, texts, test send,
//! approve / pause / resume / cancel, progress and "resend failed").
//!
//! Every change goes through the same domain functions as the admin API
//! (`nasvyazi_campaigns::lifecycle`), with the same validation and audit rows.

pub mod edit;
pub mod preview;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::IntoResponse;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use nasvyazi_campaigns::schedule::AwarenessDay;
use nasvyazi_campaigns::{self as shared, COLUMNS, Campaign, MessageTemplates, Templates};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::{self, Lang};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, notice, render, render_status};
use super::session::Session;
use super::{users, words};
use crate::AppState;
use crate::api::admin_campaigns::{self as api, Counts};
use nasvyazi_campaigns::input::Invalid;
use nasvyazi_campaigns::input::{AudienceInput, CampaignInput, QuietHours, ScheduleInput};
use nasvyazi_campaigns::lifecycle::{self as domain, Conflict, Step};

/// Who may work on campaigns (and admin).
pub const ROLES: &[Role] = &[Role::Organiser];

/// Time zones offered in the forms (Kazakhstan's, its neighbours', UTC);
/// a campaign in another zone keeps it.
pub const TIME_ZONES: &[&str] = &[
    "Asia/Almaty",
    "Asia/Qostanay",
    "Asia/Aqtobe",
    "Asia/Aqtau",
    "Asia/Atyrau",
    "Asia/Oral",
    "Asia/Qyzylorda",
    "Asia/Bishkek",
    "Asia/Tashkent",
    "Europe/Moscow",
    "UTC",
];

pub(crate) async fn load(state: &AppState, id: Uuid) -> Result<Campaign, Problem> {
    Campaign::load(&state.infra.db, id)
        .await?
        .ok_or(Problem::NotFound)
}

pub(crate) fn tz_of(c: &Campaign) -> Tz {
    c.tz().unwrap_or(chrono_tz::Asia::Almaty)
}

/// The campaign as the API would take it back: the starting point of every
/// edit (a form changes one part, the rest stays).
pub(crate) fn input_of(c: &Campaign) -> CampaignInput {
    let schedule = match c.schedule_kind.as_str() {
        "cron" => ScheduleInput::Cron {
            cron: c.cron_expr.clone().unwrap_or_default(),
        },
        "once" => ScheduleInput::Once {
            at: c
                .once_at
                .iter()
                .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
                .collect(),
        },
        "series" => ScheduleInput::Series {
            posts: c.series.0.clone(),
        },
        _ => ScheduleInput::Day {
            day: c.day_code.clone().unwrap_or_default(),
            time: c.send_time.map(|t| t.format("%H:%M").to_string()),
        },
    };
    CampaignInput {
        name: c.name.clone(),
        schedule,
        time_zone: Some(c.time_zone.clone()),
        audience: AudienceInput {
            topics: c.topics.clone(),
            languages: c.languages.clone(),
            regions: c.regions.clone(),
            channels: c.channels.clone(),
        },
        templates: c.templates.0.clone(),
        quiet_hours: Some(QuietHours {
            start: c.quiet_start.format("%H:%M").to_string(),
            end: c.quiet_end.format("%H:%M").to_string(),
        }),
    }
}

/// Why a form was refused, as a catalog key (and a detail for template
/// syntax errors, which name the line).
pub(crate) struct Refusal {
    pub key: String,
    pub detail: Option<String>,
}

fn invalid_key(e: &Invalid) -> Refusal {
    let field = e.field.replace('.', "_");
    Refusal {
        key: format!("console.invalid.{field}"),
        // Template syntax errors name the line; the media's reasons are
        // turned into the reader's words by the texts page.
        detail: (e.field == "templates" || e.field.ends_with("_media")).then(|| e.reason.clone()),
    }
}

/// Validates and stores `input` for campaign `id` (or a new draft).
pub(crate) async fn save(
    state: &AppState,
    s: &Session,
    id: Option<Uuid>,
    input: &CampaignInput,
) -> Result<Result<Uuid, Refusal>, Problem> {
    let days = shared::calendar(&state.infra.db).await?;
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let valid = match input.validate(&state.infra.config, &days, &regions) {
        Ok(v) => v,
        Err(e) => return Ok(Err(invalid_key(&e))),
    };
    if let Err(e) =
        nasvyazi_campaigns::input::email_media::check(&state.infra.db, &valid.templates).await?
    {
        return Ok(Err(invalid_key(&e)));
    }
    if let Err(e) = nasvyazi_campaigns::input::telegram_media::check(
        &state.infra.db,
        &valid.templates,
        &valid.channels,
    )
    .await?
    {
        return Ok(Err(invalid_key(&e)));
    }
    let who = s.principal();
    match id {
        None => Ok(Ok(domain::create(&state.infra.db, &who, &valid).await?)),
        Some(id) => match domain::update(&state.infra.db, &who, id, &valid).await? {
            Ok(()) => Ok(Ok(id)),
            Err(Conflict::NotFound) => Err(Problem::NotFound),
            Err(Conflict::State(_)) => Ok(Err(Refusal {
                key: "console.campaign.locked".into(),
                detail: None,
            })),
        },
    }
}

/// An awareness day as the preset list shows it.
#[derive(Serialize)]
struct Preset {
    code: String,
    name: String,
    date: String,
    from_now: String,
}

fn presets(days: &[AwarenessDay], lang: Lang, tz: Tz, now: DateTime<Utc>) -> Vec<Preset> {
    let mut out: Vec<(DateTime<Utc>, Preset)> = days
        .iter()
        .filter_map(|d| {
            let s = nasvyazi_campaigns::schedule::Schedule::Yearly {
                month: d.month,
                day: d.day,
                time: chrono::NaiveTime::from_hms_opt(10, 0, 0)?,
            };
            let next = s.next_after(tz, now)?;
            let local = next.with_timezone(&tz);
            let date = i18n::fill(
                &i18n::t(lang, "console.date.day_month"),
                &[
                    ("day", &local.day().to_string()),
                    (
                        "month",
                        &i18n::t(lang, &format!("console.date.month_{}", local.month())),
                    ),
                ],
            );
            Some((
                next,
                Preset {
                    code: d.code.clone(),
                    name: d.name.get(lang.code()).to_string(),
                    date,
                    from_now: words::from_now(lang, next, now),
                },
            ))
        })
        .collect();
    out.sort_by_key(|(t, _)| *t);
    out.into_iter().map(|(_, p)| p).collect()
}

#[derive(Serialize)]
struct Line {
    id: Uuid,
    name: String,
    status: String,
    next: Option<String>,
}

/// `GET /admin/campaigns`.
pub async fn list(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<super::account::DoneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let rows: Vec<Campaign> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM campaigns ORDER BY (status = 'cancelled'), created_at DESC LIMIT 200"
    ))
    .fetch_all(&state.infra.db)
    .await?;
    let days = shared::calendar(&state.infra.db).await?;
    let now = Utc::now();
    let mut lines = Vec::with_capacity(rows.len());
    for c in rows {
        let tz = tz_of(&c);
        let next = c
            .schedule(&days)
            .ok()
            .and_then(|sch| sch.next_after(tz, now))
            .filter(|_| c.status != "cancelled");
        let status = api::derived_status(&state, &c, next.as_slice())
            .await
            .map_err(api_problem)?;
        lines.push(Line {
            id: c.id,
            name: c.name,
            status,
            next: next.map(|t| words::datetime(s.user.lang, t, tz)),
        });
    }
    Ok(render(
        &state,
        &s,
        &uri,
        "campaigns",
        "console/campaigns.html",
        minijinja::context! { campaigns => lines, notice => notice(q.done.as_deref()) },
    ))
}

pub(crate) fn api_problem(e: nasvyazi_shared::error::ApiError) -> Problem {
    match e.status {
        StatusCode::NOT_FOUND => Problem::NotFound,
        StatusCode::FORBIDDEN => Problem::Forbidden,
        _ => Problem::Internal(anyhow::anyhow!("{}: {}", e.code, e.message)),
    }
}

/// `GET /admin/campaigns/new`: the presets, and a custom date and time.
pub async fn new_form(State(state): State<AppState>, s: Session, uri: Uri) -> PageResult {
    s.require(ROLES)?;
    new_page(&state, &s, &uri, StatusCode::OK, None, "", "").await
}

async fn new_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    error: Option<Refusal>,
    name: &str,
    at: &str,
) -> PageResult {
    let days = shared::calendar(&state.infra.db).await?;
    let tz: Tz = state
        .infra
        .config
        .campaigns
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Almaty);
    let presets = presets(&days, s.user.lang, tz, Utc::now());
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        "console/campaign_new.html",
        status,
        minijinja::context! {
            presets, name, at,
            error => error.as_ref().map(|e| &e.key),
            error_detail => error.as_ref().and_then(|e| e.detail.clone()),
            time_zones => TIME_ZONES,
            time_zone => tz.name(),
        },
    ))
}

/// Starter texts in every language, so a recipient in Kazakh gets Kazakh.
fn starter_templates(custom: bool) -> Templates {
    let mut t = Templates::new();
    for lang in Lang::ALL {
        let get = |k: &str| {
            let s = i18n::t(lang, &format!("console.starter.{k}"));
            Some(if custom {
                s.replace("{{ day }}", "{{ campaign }}")
            } else {
                s
            })
        };
        t.insert(
            lang.code().to_string(),
            MessageTemplates {
                email_subject: get("email_subject"),
                email_text: get("email_text"),
                email_html: None,
                telegram: get("telegram"),
                ..Default::default()
            },
        );
    }
    t
}

/// The channels a new campaign starts with: email, and Telegram when a bot
/// is configured.
fn default_channels(state: &AppState) -> Vec<String> {
    let mut c = vec!["email".to_string()];
    if state.infra.config.telegram.token.is_some() {
        c.push("telegram".into());
    }
    c
}

/// `POST /admin/campaigns/new`: `preset=<day code>`, or `name`, `at`
/// (local date-time) and `time_zone`.
pub async fn create(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let days = shared::calendar(&state.infra.db).await?;
    let input = if !form.get("preset").is_empty() {
        let Some(day) = days.iter().find(|d| d.code == form.get("preset")) else {
            return Err(Problem::NotFound);
        };
        CampaignInput {
            name: day.name.get(s.user.lang.code()).to_string(),
            schedule: ScheduleInput::Day {
                day: day.code.clone(),
                time: Some("10:00".into()),
            },
            time_zone: None,
            audience: AudienceInput {
                channels: default_channels(&state),
                ..Default::default()
            },
            templates: starter_templates(false),
            quiet_hours: None,
        }
    } else {
        let tz = form.get("time_zone");
        CampaignInput {
            name: form.get("name").to_string(),
            schedule: ScheduleInput::Once {
                at: vec![form.get("at").to_string()],
            },
            time_zone: (!tz.is_empty()).then(|| tz.to_string()),
            audience: AudienceInput {
                channels: default_channels(&state),
                ..Default::default()
            },
            templates: starter_templates(true),
            quiet_hours: None,
        }
    };
    match save(&state, &s, None, &input).await? {
        Ok(id) => Ok(done(&format!("/admin/campaigns/{id}"), "created")),
        Err(refusal) => {
            new_page(
                &state,
                &s,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(refusal),
                form.get("name"),
                form.get("at"),
            )
            .await
        }
    }
}

/// The schedule in words: "every year on 31 August at 10:00", "once",
/// "cron ...".
pub(crate) fn schedule_words(c: &Campaign, days: &[AwarenessDay], lang: Lang) -> String {
    match c.schedule_kind.as_str() {
        "day" => {
            let day = c
                .day_code
                .as_deref()
                .and_then(|code| days.iter().find(|d| d.code == code));
            match day {
                Some(d) => i18n::fill(
                    &i18n::t(lang, "console.campaign.every_year"),
                    &[
                        ("day", &d.day.to_string()),
                        (
                            "month",
                            &i18n::t(lang, &format!("console.date.month_{}", d.month)),
                        ),
                        (
                            "time",
                            &c.send_time
                                .map(|t| t.format("%H:%M").to_string())
                                .unwrap_or_else(|| "10:00".into()),
                        ),
                        ("name", d.name.get(lang.code())),
                    ],
                ),
                None => i18n::t(lang, "console.campaign.unknown_day"),
            }
        }
        "once" => i18n::plural(lang, "console.campaign.once", c.once_at.len() as u64),
        "series" => i18n::plural(lang, "console.campaign.series", c.series.len() as u64),
        _ => i18n::fill(
            &i18n::t(lang, "console.campaign.cron"),
            &[("cron", c.cron_expr.as_deref().unwrap_or(""))],
        ),
    }
}

/// What the overview shows of a channel's texts in one language.
#[derive(Serialize)]
struct TextState {
    lang: &'static str,
    /// Every chosen channel has its own text in this language.
    complete: bool,
    /// Falls back to another language for something.
    fallback: bool,
}

fn texts_state(c: &Campaign) -> Vec<TextState> {
    Lang::ALL
        .iter()
        .map(|l| {
            let own = c.templates.get(l.code());
            let has = |f: &Option<String>| f.as_ref().is_some_and(|s| !s.trim().is_empty());
            let complete = c.channels.iter().all(|ch| match ch.as_str() {
                "email" => own.is_some_and(|t| has(&t.email_subject) && has(&t.email_text)),
                _ => own.is_some_and(|t| has(&t.telegram)),
            });
            TextState {
                lang: l.code(),
                complete,
                fallback: !complete,
            }
        })
        .collect()
}

/// `GET /admin/campaigns/{id}`.
pub async fn overview(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<OverviewQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    overview_page(
        &state,
        &s,
        &uri,
        c,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct OverviewQuery {
    pub done: Option<String>,
}

async fn overview_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    c: Campaign,
    status: StatusCode,
    notice: Option<String>,
    error: Option<&str>,
) -> PageResult {
    let lang = s.user.lang;
    let days = shared::calendar(&state.infra.db).await?;
    let tz = tz_of(&c);
    let now = Utc::now();
    let next: Vec<DateTime<Utc>> = if c.status == "cancelled" {
        Vec::new()
    } else {
        c.schedule(&days)
            .map(|sch| sch.upcoming(tz, now, 5))
            .unwrap_or_default()
    };
    let next_words: Vec<_> = next
        .iter()
        .map(|t| {
            minijinja::context! {
                when => words::datetime(lang, *t, tz),
                from_now => words::from_now(lang, *t, now),
            }
        })
        .collect();
    let audience = edit::count(state, &c.channels, &c.topics, &c.languages, &c.regions).await?;
    let schedule = schedule_words(&c, &days, lang);
    let texts = texts_state(&c);
    let progress = api::progress_of(state, c.clone())
        .await
        .map_err(api_problem)?;
    let editable = matches!(c.status.as_str(), "draft" | "paused");
    let posts = super::posts_page::section(state, c.id, lang, tz).await?;
    let survey = survey_view(state, &c, lang).await?;
    // Registered channels by title, not by id.
    let registered: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, title FROM telegram_channels")
        .fetch_all(&state.infra.db)
        .await?;
    let channel_titles: std::collections::BTreeMap<String, String> = registered
        .into_iter()
        .map(|(id, title)| {
            (
                format!(
                    "{}{id}",
                    nasvyazi_campaigns::input::telegram_media::CHANNEL_PREFIX
                ),
                title,
            )
        })
        .collect();
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let region_names: Vec<String> = c
        .regions
        .iter()
        .map(|code| {
            regions
                .iter()
                .find(|r| &r.code == code)
                .map(|r| r.name.get(lang.code()).to_string())
                .unwrap_or_else(|| code.clone())
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        "console/campaign.html",
        status,
        minijinja::context! {
            notice, error,
            campaign => minijinja::context! {
                id => c.id, name => &c.name, status => &progress.status, raw_status => &c.status,
                time_zone => &c.time_zone, channels => &c.channels, topics => &c.topics,
                languages => &c.languages, regions => region_names,
                quiet => (c.quiet_start != c.quiet_end).then(|| {
                    format!("{}–{}", c.quiet_start.format("%H:%M"), c.quiet_end.format("%H:%M"))
                }),
            },
            schedule, next => next_words, count => audience, texts, editable,
            progress => progress_view(&progress),
            has_telegram => state.infra.config.telegram.token.is_some(),
            posts, survey, channel_titles,
        },
    ))
}

#[derive(Serialize)]
struct OccurrenceView {
    at: String,
    status: String,
    reason: Option<String>,
    channels: Vec<(String, CountsView)>,
}

#[derive(Serialize, Default, Clone, Copy)]
pub(crate) struct CountsView {
    queued: i64,
    sent: i64,
    failed: i64,
    skipped: i64,
}

impl From<&Counts> for CountsView {
    fn from(c: &Counts) -> Self {
        CountsView {
            // In the queue, waiting to retry, or being sent right now.
            queued: c.queued + c.retry + c.sending,
            sent: c.sent,
            failed: c.failed,
            skipped: c.skipped,
        }
    }
}

fn progress_view(p: &api::Progress) -> minijinja::Value {
    let occurrences: Vec<OccurrenceView> = p
        .occurrences
        .iter()
        .take(10)
        .map(|o| OccurrenceView {
            at: words::short(o.scheduled_at, chrono_tz::Asia::Almaty),
            status: o.status.clone(),
            reason: o.reason.clone(),
            channels: o
                .channels
                .iter()
                .map(|(ch, c)| (ch.clone(), CountsView::from(c)))
                .collect(),
        })
        .collect();
    minijinja::context! {
        totals => CountsView::from(&p.totals),
        occurrences,
        status => &p.status,
    }
}

/// `GET /admin/campaigns/{id}/progress`: the progress block alone (the
/// page's script refreshes it; without the script, the page's own
/// "refresh" link does).
pub async fn progress_fragment(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> PageResult {
    s.require(ROLES)?;
    let c = load(&state, id).await?;
    let progress = api::progress_of(&state, c.clone())
        .await
        .map_err(api_problem)?;
    Ok(render(
        &state,
        &s,
        &uri,
        "campaigns",
        "console/progress.html",
        minijinja::context! {
            campaign => minijinja::context! { id => c.id, raw_status => &c.status },
            progress => progress_view(&progress),
        },
    ))
}

/// `POST /admin/campaigns/{id}/action`: `approve`, `pause`, `resume`,
/// `cancel`, `resend` (failed deliveries) or `test` (to oneself).
pub async fn action(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let db = &state.infra.db;
    let who = s.principal();
    let back = format!("/admin/campaigns/{id}");
    let step = match form.get("action") {
        "approve" => Some((Step::Approve, "approved")),
        "pause" => Some((Step::Pause, "paused")),
        "resume" => Some((Step::Resume, "resumed")),
        "cancel" => Some((Step::Cancel, "cancelled")),
        _ => None,
    };
    if let Some((step, notice)) = step {
        return match domain::step(db, &who, id, step).await? {
            Ok(()) => Ok(done(&back, notice)),
            Err(Conflict::NotFound) => Err(Problem::NotFound),
            Err(Conflict::State(why)) => {
                let c = load(&state, id).await?;
                let key = if why.starts_with("every chosen channel") {
                    "console.campaign.needs_texts"
                } else {
                    "console.campaign.step_refused"
                };
                overview_page(&state, &s, &uri, c, StatusCode::CONFLICT, None, Some(key)).await
            }
        };
    }
    match form.get("action") {
        "survey" => {
            let input = crate::surveys::admin::CampaignSurveyInput {
                survey: Some(form.get("survey").to_string()).filter(|v| !v.trim().is_empty()),
                reminder: form.get("reminder") == "on",
            };
            match crate::surveys::admin::set_survey(&state, &who, id, input).await {
                Ok(_) => Ok(done(&back, "saved")),
                Err(e) if e.status == StatusCode::NOT_FOUND => Err(Problem::NotFound),
                Err(e) if e.status.is_server_error() => Err(api_problem(e)),
                Err(e) => {
                    let key = match e.status {
                        StatusCode::CONFLICT => "console.campaign.locked",
                        _ if e.message.starts_with("reminder") => {
                            "console.editor.survey_reminder_needs"
                        }
                        _ => "console.editor.survey_unknown",
                    };
                    let c = load(&state, id).await?;
                    overview_page(&state, &s, &uri, c, e.status, None, Some(key)).await
                }
            }
        }
        "resend" => {
            if !domain::resend_failed(db, &who, id).await? {
                return Err(Problem::NotFound);
            }
            Ok(done(&back, "resend"))
        }
        "test" => {
            let lang = Lang::parse(form.get("language")).unwrap_or(s.user.lang);
            let (channel, address) = match form.get("channel") {
                "telegram" => {
                    let chat = form.get("chat");
                    if chat.parse::<i64>().is_err() {
                        let c = load(&state, id).await?;
                        return overview_page(
                            &state,
                            &s,
                            &uri,
                            c,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            None,
                            Some("console.campaign.chat_invalid"),
                        )
                        .await;
                    }
                    ("telegram", chat.to_string())
                }
                _ => (
                    "email",
                    users::email_of(db, &state.keys, s.user.id)
                        .await?
                        .expose()
                        .to_string(),
                ),
            };
            if !domain::test_send(db, &state.keys, &who, id, channel, &address, lang.code()).await?
            {
                return Err(Problem::NotFound);
            }
            Ok(done(&back, "test_sent"))
        }
        _ => Ok(axum::response::Redirect::to(&back).into_response()),
    }
}

/// The survey a campaign invites to, and (for a draft or a paused one) the
/// surveys it may invite to: open and draft ones, and the current one.
async fn survey_view(
    state: &AppState,
    c: &Campaign,
    lang: Lang,
) -> Result<minijinja::Value, Problem> {
    use crate::surveys::campaign_link;
    use nasvyazi_surveys::{model::text_in, store};
    let db = &state.infra.db;
    let link = campaign_link::campaign_survey(db, c.id).await?.flatten();
    let all = store::list(db).await?;
    let title = |id: Uuid| {
        all.iter()
            .find(|x| x.id == id)
            .map(|x| text_in(&x.title, lang.code()).to_string())
    };
    let current = link.as_ref().map(|(id, slug, reminder)| {
        minijinja::context! {
            id => id.to_string(), slug, reminder,
            title => title(*id).unwrap_or_else(|| slug.clone()),
        }
    });
    let options: Vec<_> = all
        .iter()
        .filter(|x| {
            matches!(x.state.as_str(), "open" | "draft")
                || link.as_ref().is_some_and(|l| l.0 == x.id)
        })
        .map(|x| {
            minijinja::context! {
                id => x.id.to_string(), slug => &x.slug, state => &x.state,
                title => text_in(&x.title, lang.code()),
            }
        })
        .collect();
    Ok(minijinja::context! { current, options })
}
