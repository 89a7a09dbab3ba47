//! `/api/v1/admin/campaigns` (role organiser or admin, every change
//! audited) and `/api/v1/admin/awareness-days`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nasvyazi_campaigns::schedule::AwarenessDay;
use nasvyazi_campaigns::{self as campaigns, COLUMNS, Campaign, Context, RenderedEmail};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::i18n::Lang;
use nasvyazi_supporters::regions::Names;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;
use nasvyazi_campaigns::input::CampaignInput;
use nasvyazi_campaigns::input::telegram_media::TelegramPostPreview;
use nasvyazi_campaigns::lifecycle::{self as domain, Conflict, Step};

/// The campaigns' API and the awareness days (staff listener).
pub fn routes() -> super::Api {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one, update))
        .routes(routes!(approve))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(preview))
        .routes(routes!(test_send))
        .routes(routes!(progress))
        .routes(routes!(resend_failed))
        .routes(routes!(days, add_day))
}

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// A campaign as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    /// draft, approved, scheduled, running, done, paused or cancelled.
    pub status: String,
    pub schedule_kind: String,
    pub cron: Option<String>,
    pub day: Option<String>,
    pub send_time: Option<String>,
    pub once_at: Vec<String>,
    pub time_zone: String,
    pub topics: Vec<String>,
    pub languages: Vec<String>,
    pub regions: Vec<String>,
    pub channels: Vec<String>,
    #[schema(value_type = Object)]
    pub templates: campaigns::Templates,
    pub quiet_hours: [String; 2],
    /// The next five instants (RFC 3339, in the campaign's time zone).
    pub next_occurrences: Vec<String>,
    pub version: i32,
    /// The posts of a `series` (absent for other kinds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<nasvyazi_campaigns::series::SeriesPost>,
}

fn invalid(e: nasvyazi_campaigns::input::Invalid) -> ApiError {
    ApiError::validation(format!("{}: {}", e.field, e.reason))
}

fn conflict(c: Conflict) -> ApiError {
    match c {
        Conflict::NotFound => ApiError::not_found(),
        Conflict::State(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
    }
}

async fn load(state: &AppState, id: Uuid) -> Result<Campaign, ApiError> {
    Campaign::load(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Derives scheduled / running / done for an approved campaign.
pub(crate) async fn derived_status(
    state: &AppState,
    c: &Campaign,
    next: &[DateTime<Utc>],
) -> Result<String, ApiError> {
    if c.status != "approved" {
        return Ok(c.status.clone());
    }
    let in_flight: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM deliveries d JOIN occurrences o ON o.id = d.ref_id
                        WHERE o.campaign_id = $1 AND d.kind = 'campaign'
                          AND d.status IN ('queued', 'sending', 'retry'))",
    )
    .bind(c.id)
    .fetch_one(&state.infra.db)
    .await?;
    if in_flight {
        return Ok("running".into());
    }
    if !next.is_empty() {
        return Ok("scheduled".into());
    }
    let fired: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM occurrences WHERE campaign_id = $1)")
            .bind(c.id)
            .fetch_one(&state.infra.db)
            .await?;
    Ok(if fired { "done" } else { "scheduled" }.into())
}

async fn view(state: &AppState, c: Campaign) -> Result<CampaignView, ApiError> {
    let days = campaigns::calendar(&state.infra.db).await?;
    let tz = c.tz().unwrap_or(chrono_tz::Asia::Almaty);
    let next = c
        .schedule(&days)
        .map(|s| s.upcoming(tz, Utc::now(), 5))
        .unwrap_or_default();
    let status = derived_status(state, &c, &next).await?;
    Ok(CampaignView {
        id: c.id,
        name: c.name,
        status,
        schedule_kind: c.schedule_kind,
        cron: c.cron_expr,
        day: c.day_code,
        send_time: c.send_time.map(|t| t.format("%H:%M").to_string()),
        once_at: c
            .once_at
            .iter()
            .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
            .collect(),
        time_zone: c.time_zone,
        topics: c.topics,
        languages: c.languages,
        regions: c.regions,
        channels: c.channels,
        templates: c.templates.0,
        quiet_hours: [
            c.quiet_start.format("%H:%M").to_string(),
            c.quiet_end.format("%H:%M").to_string(),
        ],
        next_occurrences: next
            .iter()
            .map(|t| t.with_timezone(&tz).to_rfc3339())
            .collect(),
        version: c.version,
        series: c.series.0,
    })
}

async fn validate(
    state: &AppState,
    input: &CampaignInput,
) -> Result<nasvyazi_campaigns::input::Valid, ApiError> {
    let days = campaigns::calendar(&state.infra.db).await?;
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let valid = input
        .validate(&state.infra.config, &days, &regions)
        .map_err(invalid)?;
    nasvyazi_campaigns::input::email_media::check(&state.infra.db, &valid.templates)
        .await?
        .map_err(invalid)?;
    nasvyazi_campaigns::input::telegram_media::check(
        &state.infra.db,
        &valid.templates,
        &valid.channels,
    )
    .await?
    .map_err(invalid)?;
    check_polls(&valid.templates)?;
    nasvyazi_campaigns::input::series::check(&state.infra.db, &valid)
        .await?
        .map_err(invalid)?;
    Ok(valid)
}

/// The channel polls of the templates (`telegram_poll`): Telegram's limits
/// (the same as the polls API's), and not with the post's media in the
/// same language (a post is a poll or media, not both). 422 naming
/// `templates.<lang>.telegram_poll`.
fn check_polls(templates: &campaigns::Templates) -> Result<(), ApiError> {
    for (lang, t) in templates {
        let Some(poll) = &t.telegram_poll else {
            continue;
        };
        let reason = if !t.telegram_media.is_empty() {
            Some("a post is a poll or media, not both (remove telegram_media)".to_string())
        } else {
            crate::polls::check_template(poll).err()
        };
        if let Some(reason) = reason {
            return Err(ApiError::validation(format!(
                "templates.{lang}.telegram_poll: {reason}"
            )));
        }
    }
    Ok(())
}

/// Creates a draft campaign.
#[utoipa::path(post, path = "/api/v1/admin/campaigns", tag = "campaigns", security(("bearer" = [])),
    request_body = CampaignInput,
    responses((status = 201, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 422, body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<CampaignInput>,
) -> Result<(StatusCode, ApiJson<CampaignView>), ApiError> {
    let who = admin.require(ROLES)?;
    let valid = validate(&state, &input).await?;
    let id = domain::create(&state.infra.db, who, &valid).await?;
    let c = load(&state, id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, c).await?)))
}

/// Lists campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/admin/campaigns", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = [CampaignView]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<CampaignView>>, ApiError> {
    admin.require(ROLES)?;
    let rows: Vec<Campaign> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM campaigns ORDER BY created_at DESC LIMIT 500"
    ))
    .fetch_all(&state.infra.db)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        out.push(view(&state, c).await?);
    }
    Ok(ApiJson(out))
}

/// One campaign.
#[utoipa::path(get, path = "/api/v1/admin/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    admin.require(ROLES)?;
    let c = load(&state, id).await?;
    Ok(ApiJson(view(&state, c).await?))
}

/// Replaces a draft's or a paused campaign's definition.
#[utoipa::path(put, path = "/api/v1/admin/campaigns/{id}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CampaignInput,
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E), (status = 409, body = E), (status = 422, body = E)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<CampaignInput>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    let who = admin.require(ROLES)?;
    let valid = validate(&state, &input).await?;
    domain::update(&state.infra.db, who, id, &valid)
        .await?
        .map_err(conflict)?;
    let c = load(&state, id).await?;
    Ok(ApiJson(view(&state, c).await?))
}

async fn do_step(
    state: AppState,
    admin: Admin,
    id: Uuid,
    step: Step,
) -> Result<ApiJson<CampaignView>, ApiError> {
    let who = admin.require(ROLES)?;
    domain::step(&state.infra.db, who, id, step)
        .await?
        .map_err(conflict)?;
    let c = load(&state, id).await?;
    Ok(ApiJson(view(&state, c).await?))
}

/// Approves a draft: from now on the scheduler fires it.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/approve", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn approve(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    do_step(state, admin, id, Step::Approve).await
}

/// Pauses: nothing fires and queued deliveries wait.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/pause", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn pause(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    do_step(state, admin, id, Step::Pause).await
}

/// Resumes a paused campaign (instants that passed meanwhile are not fired).
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/resume", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn resume(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    do_step(state, admin, id, Step::Resume).await
}

/// Cancels: nothing more fires, queued deliveries are skipped.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/cancel", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn cancel(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignView>, ApiError> {
    do_step(state, admin, id, Step::Cancel).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub language: Lang,
    /// email, telegram or telegram_channel
    #[schema(value_type = nasvyazi_campaigns::input::ChannelCode)]
    pub channel: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub language: Lang,
    pub email: Option<RenderedEmail>,
    pub telegram: Option<String>,
    /// With `telegram_media`: the media of the post (media ids) and how
    /// the text goes with them, as the notifier sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_post: Option<TelegramPostPreview>,
    /// A channel post (`telegram_channel...`) whose template has
    /// `telegram_poll`: the anonymous poll sent after the text. Direct
    /// messages (`telegram`) never carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telegram_poll: Option<campaigns::PollTemplate>,
}

/// Renders the message as a recipient in `language` would get it.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/preview", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 422, body = E)))]
pub async fn preview(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<ApiJson<Preview>, ApiError> {
    admin.require(ROLES)?;
    let c = load(&state, id).await?;
    Ok(ApiJson(
        render_preview(&state, &c, req.language, &req.channel).await?,
    ))
}

/// The preview of one channel in one language (the API's and the
/// console's).
pub(crate) async fn render_preview(
    state: &AppState,
    c: &Campaign,
    language: Lang,
    channel: &str,
) -> Result<Preview, ApiError> {
    // A series: its next post.
    let series_post = c.for_preview(Utc::now());
    let c: &Campaign = &series_post;
    let days = campaigns::calendar(&state.infra.db).await?;
    let base = state.infra.config.public_base();
    let ctx = Context {
        org: state.infra.config.organisation.name.clone(),
        campaign: c.name.clone(),
        day: c
            .day_code
            .as_deref()
            .and_then(|code| days.iter().find(|d| d.code == code))
            .map(|d| d.name.get(language.code()).to_string()),
        unsubscribe_url: Some(format!("{base}/u/PREVIEW")),
        forget_url: Some(format!("{base}/forget/PREVIEW")),
        survey_url: Some(format!("{base}/surveys/PREVIEW?t=PREVIEW")),
    };
    let render_err = |e: campaigns::RenderError| ApiError::validation(e.to_string());
    let limit_err =
        |e: nasvyazi_shared::template_limits::Limit| ApiError::validation(e.to_string());
    let mut out = Preview {
        language,
        email: None,
        telegram: None,
        telegram_post: None,
        telegram_poll: None,
    };
    // Organisers' templates render off the async threads, under the
    // limits (fuel, output size) and a timeout.
    let templates = c.templates.clone();
    match channel {
        "email" => {
            let r = nasvyazi_shared::template_limits::render_blocking(move || {
                campaigns::render_email(&templates, language, &ctx)
            })
            .await
            .map_err(limit_err)?;
            out.email = Some(r.map_err(render_err)?)
        }
        ch if ch == "telegram"
            || ch == "telegram_channel"
            || ch.starts_with(nasvyazi_campaigns::input::telegram_media::CHANNEL_PREFIX) =>
        {
            let ctx = Context {
                unsubscribe_url: None,
                forget_url: None,
                ..ctx
            };
            let r = nasvyazi_shared::template_limits::render_blocking(move || {
                campaigns::render_telegram(&templates, language, &ctx)
            })
            .await
            .map_err(limit_err)?;
            let text = r.map_err(render_err)?;
            out.telegram_post = nasvyazi_campaigns::input::telegram_media::preview(
                &state.infra.db,
                &c.templates,
                language,
                &text,
            )
            .await?;
            out.telegram = Some(text);
            if channel != "telegram" {
                out.telegram_poll =
                    campaigns::pick_telegram_poll(&c.templates, language).map(|(_, p)| p.clone());
            }
        }
        _ => {
            return Err(ApiError::validation(
                "channel: email, telegram or telegram_channel",
            ));
        }
    }
    Ok(out)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestSendRequest {
    /// email or telegram
    #[schema(value_type = TestChannel)]
    pub channel: String,
    /// An email address, or a Telegram chat id.
    #[schema(min_length = 3, max_length = 254)]
    pub address: String,
    pub language: Lang,
}

/// Where a test send can go.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum TestChannel {
    Email,
    Telegram,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CampaignAccepted)]
pub struct Accepted {
    pub status: &'static str,
}

/// Sends the message once to one address or chat (before approval too).
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/test-send", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TestSendRequest,
    responses((status = 202, body = Accepted), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 422, body = E)))]
pub async fn test_send(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<TestSendRequest>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let who = admin.require(ROLES)?;
    let address = match req.channel.as_str() {
        "email" => nasvyazi_shared::email::EmailAddress::parse(&req.address)
            .map_err(|_| ApiError::validation("address: not a valid email address"))?
            .expose()
            .to_string(),
        "telegram" => {
            let chat = req.address.trim();
            if chat.parse::<i64>().is_err() {
                return Err(ApiError::validation(
                    "address: a Telegram chat id (a number)",
                ));
            }
            chat.to_string()
        }
        _ => return Err(ApiError::validation("channel: email or telegram")),
    };
    let found = domain::test_send(
        &state.infra.db,
        &state.keys,
        who,
        id,
        &req.channel,
        &address,
        req.language.code(),
    )
    .await?;
    if !found {
        return Err(ApiError::not_found());
    }
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted { status: "accepted" }),
    ))
}

/// Counts per delivery state.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Counts {
    pub queued: i64,
    pub sending: i64,
    pub sent: i64,
    pub retry: i64,
    pub failed: i64,
    pub skipped: i64,
}

impl Counts {
    fn add(&mut self, status: &str, n: i64) {
        match status {
            "queued" => self.queued += n,
            "sending" => self.sending += n,
            "sent" => self.sent += n,
            "retry" => self.retry += n,
            "failed" => self.failed += n,
            _ => self.skipped += n,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OccurrenceProgress {
    pub occurrence_id: Uuid,
    pub scheduled_at: DateTime<Utc>,
    /// triggered or skipped
    pub status: String,
    pub reason: Option<String>,
    /// Per channel.
    pub channels: BTreeMap<String, Counts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub campaign_id: Uuid,
    pub status: String,
    pub totals: Counts,
    pub occurrences: Vec<OccurrenceProgress>,
}

/// Deliveries per occurrence and channel: queued, sent, failed, skipped.
#[utoipa::path(get, path = "/api/v1/admin/campaigns/{id}/progress", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Progress), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn progress(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Progress>, ApiError> {
    admin.require(ROLES)?;
    let c = load(&state, id).await?;
    Ok(ApiJson(progress_of(&state, c).await?))
}

/// Deliveries per occurrence and channel (the API's and the console's).
pub(crate) async fn progress_of(state: &AppState, c: Campaign) -> Result<Progress, ApiError> {
    let id = c.id;
    let occurrences: Vec<(Uuid, DateTime<Utc>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, scheduled_at, status, reason FROM occurrences WHERE campaign_id = $1 ORDER BY scheduled_at DESC LIMIT 100",
    )
    .bind(id)
    .fetch_all(&state.infra.db)
    .await?;
    let counts: Vec<(Uuid, String, String, i64)> = sqlx::query_as(
        "SELECT d.ref_id, d.channel, d.status, count(*) FROM deliveries d
         WHERE d.kind = 'campaign' AND d.ref_id = ANY($1) GROUP BY 1, 2, 3",
    )
    .bind(occurrences.iter().map(|o| o.0).collect::<Vec<_>>())
    .fetch_all(&state.infra.db)
    .await?;
    let mut totals = Counts::default();
    let occurrences = occurrences
        .into_iter()
        .map(|(oid, at, status, reason)| {
            let mut channels: BTreeMap<String, Counts> = BTreeMap::new();
            for (_, ch, st, n) in counts.iter().filter(|r| r.0 == oid) {
                channels.entry(ch.clone()).or_default().add(st, *n);
                totals.add(st, *n);
            }
            OccurrenceProgress {
                occurrence_id: oid,
                scheduled_at: at,
                status,
                reason,
                channels,
            }
        })
        .collect();
    let v = view(state, c).await?;
    Ok(Progress {
        campaign_id: id,
        status: v.status,
        totals,
        occurrences,
    })
}

/// Puts the campaign's failed deliveries back in the queue.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/resend-failed", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 202, body = Accepted), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn resend_failed(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let who = admin.require(ROLES)?;
    if !domain::resend_failed(&state.infra.db, who, id).await? {
        return Err(ApiError::not_found());
    }
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted { status: "accepted" }),
    ))
}

/// The awareness calendar: built-in days and the organisers' own.
#[utoipa::path(get, path = "/api/v1/admin/awareness-days", tag = "campaigns", security(("bearer" = [])),
    responses((status = 200, body = [AwarenessDay]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn days(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<AwarenessDay>>, ApiError> {
    admin.require(ROLES)?;
    Ok(ApiJson(campaigns::calendar(&state.infra.db).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDay {
    #[schema(pattern = "^[a-z0-9_]{1,60}$")]
    pub code: String,
    #[schema(minimum = 1, maximum = 12)]
    pub month: u32,
    #[schema(minimum = 1, maximum = 31)]
    pub day: u32,
    pub name: Names,
}

/// Adds a day to the calendar.
#[utoipa::path(post, path = "/api/v1/admin/awareness-days", tag = "campaigns", security(("bearer" = [])),
    request_body = NewDay,
    responses((status = 201, body = AwarenessDay), (status = 401, body = E), (status = 403, body = E), (status = 409, body = E), (status = 422, body = E)))]
pub async fn add_day(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(d): ApiJson<NewDay>,
) -> Result<(StatusCode, ApiJson<AwarenessDay>), ApiError> {
    let who = admin.require(ROLES)?;
    if d.code.is_empty()
        || d.code.len() > 60
        || !d
            .code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ApiError::validation("code: 1-60 of a-z, 0-9 and _"));
    }
    if chrono::NaiveDate::from_ymd_opt(2024, d.month, d.day).is_none() {
        return Err(ApiError::validation("month/day: not a date"));
    }
    for (lang, n) in [("ru", &d.name.ru), ("kk", &d.name.kk), ("en", &d.name.en)] {
        if n.trim().is_empty() || n.chars().count() > 200 {
            return Err(ApiError::validation(format!(
                "name.{lang}: 1 to 200 characters"
            )));
        }
    }
    if campaigns::calendar(&state.infra.db)
        .await?
        .iter()
        .any(|x| x.code == d.code)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "a day with this code exists",
        ));
    }
    let mut tx = state.infra.db.begin().await?;
    sqlx::query("INSERT INTO awareness_days (code, month, day, name_ru, name_kk, name_en) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&d.code)
        .bind(d.month as i32)
        .bind(d.day as i32)
        .bind(d.name.ru.trim())
        .bind(d.name.kk.trim())
        .bind(d.name.en.trim())
        .execute(&mut *tx)
        .await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "awareness_day.add",
        Some(&d.code),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AwarenessDay {
            code: d.code,
            month: d.month,
            day: d.day,
            name: d.name,
        }),
    ))
}

#[cfg(test)]
mod poll_tests {
    use super::*;

    #[test]
    fn a_channel_poll_is_checked_and_never_goes_with_media() {
        let poll = |options: &[&str]| campaigns::PollTemplate {
            question: "Q?".into(),
            options: options.iter().map(|o| o.to_string()).collect(),
            allows_multiple_answers: false,
        };
        let with = |p: campaigns::PollTemplate, media: Vec<Uuid>| {
            let mut t = campaigns::Templates::new();
            t.insert(
                "kk".into(),
                campaigns::MessageTemplates {
                    telegram: Some("x".into()),
                    telegram_media: media,
                    telegram_poll: Some(p),
                    ..Default::default()
                },
            );
            check_polls(&t).map_err(|e| format!("{e:?}"))
        };
        assert!(with(poll(&["a", "b"]), vec![]).is_ok());
        let e = with(poll(&["a"]), vec![]).unwrap_err();
        assert!(e.contains("templates.kk.telegram_poll: options"), "{e}");
        let e = with(poll(&["a", "b"]), vec![Uuid::nil()]).unwrap_err();
        assert!(e.contains("templates.kk.telegram_poll"), "{e}");
        assert!(e.contains("not both"), "{e}");
    }
}
