//! `/api/v1/admin/letters` (role organiser or admin, every change audited):
//! letter campaigns, their preview for any official and signer, approval,
//! closing and cancelling, progress per official, the CSV report, and the
//! resolution of letters whose fate is unknown. Also the officials routes
//! and their OpenAPI part, merged by `api::staff_router`. The domain is
//! `nasvyazi-letters`; these handlers only adapt HTTP to it and must never
//! hold its SQL or put an official's or a signer's data in an error.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nasvyazi_letters::campaign::{self as domain, Conflict, Letter, LetterInput, Step};
use nasvyazi_letters::progress::{self, Progress};
use nasvyazi_letters::render::{LetterContext, OfficialCtx, RenderedLetter, SignerCtx, render};
use nasvyazi_letters::{COLLECTIVE, message_id};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::i18n::Lang;
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// The letters admin API and officials (the staff listener; the public
/// letters pages are in `api::public_router`).
pub fn routes() -> super::Api {
    use super::admin_officials as officials;
    OpenApiRouter::new()
        .routes(routes!(officials::list, officials::create))
        .routes(super::body_limit(routes!(officials::import), 1024 * 1024))
        .routes(routes!(officials::export))
        .routes(routes!(
            officials::get_one,
            officials::update,
            officials::delete
        ))
        .routes(routes!(create, list))
        .routes(routes!(get_one, update))
        .routes(routes!(preview))
        .routes(routes!(approve))
        .routes(routes!(close))
        .routes(routes!(cancel))
        .routes(routes!(progress_of))
        .routes(routes!(report))
        .routes(routes!(resolve))
}

/// A letter campaign as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LetterView {
    pub id: Uuid,
    pub slug: String,
    /// The signing page.
    pub url: String,
    pub name: String,
    pub mode: String,
    /// draft, collecting, sending, done or cancelled.
    pub status: String,
    #[schema(value_type = Object)]
    pub templates: nasvyazi_letters::LetterTemplates,
    pub targets: Vec<Uuid>,
    pub reply_to: Option<String>,
    pub send_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    pub official_interval_minutes: Option<i32>,
    pub domain_per_minute: Option<i32>,
    pub version: i32,
}

async fn view(state: &AppState, l: Letter) -> Result<LetterView, ApiError> {
    let db = &state.infra.db;
    Ok(LetterView {
        url: format!("{}/letters/{}", state.infra.config.public_base(), l.slug),
        status: l.derived_status(db, Utc::now()).await?,
        targets: l.targets(db).await?,
        id: l.id,
        slug: l.slug,
        name: l.name,
        mode: l.mode,
        templates: l.templates.0,
        reply_to: l.reply_to,
        send_at: l.send_at,
        closes_at: l.closes_at,
        official_interval_minutes: l.official_interval_minutes,
        domain_per_minute: l.domain_per_minute,
        version: l.version,
    })
}

async fn load(state: &AppState, id: Uuid) -> Result<Letter, ApiError> {
    Letter::load(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

fn conflict(c: Conflict) -> ApiError {
    match c {
        Conflict::NotFound => ApiError::not_found(),
        Conflict::State(why) => ApiError::new(StatusCode::CONFLICT, "conflict", why),
        Conflict::Slug => ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "another letter has this slug",
        ),
    }
}

/// Documentation only: [`LetterInput`] per mode; a collective letter needs
/// `send_at` (and closes at it unless `closes_at` is earlier).
pub struct LetterInputDoc;

impl PartialSchema for LetterInputDoc {
    fn schema() -> RefOr<Schema> {
        use super::appeals::{one_of_variants, string_of};
        let send_at = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("collective: when the letters are sent (required)."))
            .into();
        let closes_at = ObjectBuilder::new()
            .schema_type(Type::Null)
            .description(Some(
                "collective: signing ends at `send_at` (or at an earlier time given here).",
            ))
            .into();
        one_of_variants(
            LetterInput::schema(),
            [
                vec![(
                    "mode",
                    string_of(["each"], "One letter per signer per official."),
                    true,
                )],
                vec![
                    (
                        "mode",
                        string_of(
                            ["collective"],
                            "One letter per official listing the signatories, at `send_at`.",
                        ),
                        true,
                    ),
                    ("send_at", send_at, true),
                    ("closes_at", closes_at, false),
                ],
            ],
        )
    }
}

impl ToSchema for LetterInputDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        LetterInput::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        LetterInput::schemas(schemas);
    }
}

async fn validate(state: &AppState, input: &LetterInput) -> Result<LetterInput, ApiError> {
    let v = input
        .validate()
        .map_err(|e| ApiError::validation(format!("{}: {}", e.field, e.reason)))?;
    domain::check_targets(&state.infra.db, &v.targets)
        .await?
        .map_err(|e| ApiError::validation(format!("{}: {}", e.field, e.reason)))?;
    Ok(v)
}

/// Creates a draft letter campaign.
#[utoipa::path(post, path = "/api/v1/admin/letters", tag = "letters", security(("bearer" = [])),
    request_body = LetterInputDoc,
    responses((status = 201, body = LetterView), (status = 401, body = E), (status = 403, body = E),
              (status = 409, body = E), (status = 422, body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<LetterInput>,
) -> Result<(StatusCode, ApiJson<LetterView>), ApiError> {
    let who = admin.require(ROLES)?;
    let v = validate(&state, &input).await?;
    let id = domain::create(&state.infra.db, who, &v)
        .await?
        .map_err(conflict)?;
    let l = load(&state, id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, l).await?)))
}

/// Lists letter campaigns, newest first.
#[utoipa::path(get, path = "/api/v1/admin/letters", tag = "letters", security(("bearer" = [])),
    responses((status = 200, body = [LetterView]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<LetterView>>, ApiError> {
    admin.require(ROLES)?;
    let rows = Letter::newest_first(&state.infra.db, 500).await?;
    let mut out = Vec::with_capacity(rows.len());
    for l in rows {
        out.push(view(&state, l).await?);
    }
    Ok(ApiJson(out))
}

/// One letter campaign.
#[utoipa::path(get, path = "/api/v1/admin/letters/{id}", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LetterView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<LetterView>, ApiError> {
    admin.require(ROLES)?;
    let l = load(&state, id).await?;
    Ok(ApiJson(view(&state, l).await?))
}

/// Replaces a draft's definition.
#[utoipa::path(put, path = "/api/v1/admin/letters/{id}", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = LetterInputDoc,
    responses((status = 200, body = LetterView), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E), (status = 409, body = E), (status = 422, body = E)))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<LetterInput>,
) -> Result<ApiJson<LetterView>, ApiError> {
    let who = admin.require(ROLES)?;
    let v = validate(&state, &input).await?;
    domain::update(&state.infra.db, who, id, &v)
        .await?
        .map_err(conflict)?;
    let l = load(&state, id).await?;
    Ok(ApiJson(view(&state, l).await?))
}

async fn do_step(
    state: AppState,
    admin: Admin,
    id: Uuid,
    step: Step,
) -> Result<ApiJson<LetterView>, ApiError> {
    let who = admin.require(ROLES)?;
    domain::step(&state.infra.db, who, id, step)
        .await?
        .map_err(conflict)?;
    let l = load(&state, id).await?;
    Ok(ApiJson(view(&state, l).await?))
}

/// Approves a draft: the signing page opens.
#[utoipa::path(post, path = "/api/v1/admin/letters/{id}/approve", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LetterView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn approve(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<LetterView>, ApiError> {
    do_step(state, admin, id, Step::Approve).await
}

/// Ends signing now (letters already signed still go).
#[utoipa::path(post, path = "/api/v1/admin/letters/{id}/close", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LetterView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn close(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<LetterView>, ApiError> {
    do_step(state, admin, id, Step::Close).await
}

/// Cancels: nothing more is signed or sent.
#[utoipa::path(post, path = "/api/v1/admin/letters/{id}/cancel", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = LetterView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn cancel(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<LetterView>, ApiError> {
    do_step(state, admin, id, Step::Cancel).await
}

/// A sample signer for a preview.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleSigner {
    #[schema(pattern = r"^[^\x00]*$")]
    pub name: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub city: String,
    #[serde(default)]
    #[schema(pattern = r"^[^\x00]*$")]
    pub note: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = LetterPreviewRequest)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub official_id: Uuid,
    /// each: the signer; collective: added to the confirmed signatories.
    pub signer: Option<SampleSigner>,
    /// Default: the official's language.
    pub language: Option<Lang>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LetterPreview)]
pub struct Preview {
    #[serde(flatten)]
    pub letter: RenderedLetter,
    pub from: String,
    /// each: Reply-To is the signer's address when the signer allowed it.
    pub reply_to_signer: bool,
    /// Otherwise (and for collective letters): the organisation's, if set.
    pub reply_to: Option<String>,
    pub message_id: String,
}

/// Renders the letter as `official_id` would get it from `signer`.
#[utoipa::path(post, path = "/api/v1/admin/letters/{id}/preview", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 422, body = E)))]
pub async fn preview(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> Result<ApiJson<Preview>, ApiError> {
    admin.require(ROLES)?;
    let l = load(&state, id).await?;
    let db = &state.infra.db;
    let official = nasvyazi_letters::records::load_official(db, &state.keys, req.official_id)
        .await
        .map_err(|e| ApiError::internal(e.into()))?
        .ok_or_else(|| ApiError::validation("official_id: no such official"))?;
    let sample = req.signer.map(|s| SignerCtx {
        name: s.name,
        city: s.city,
        note: s.note,
    });
    let (signer, signatories) = if l.mode == "each" {
        (
            Some(sample.ok_or_else(|| {
                ApiError::validation("signer: required for an each-signer letter")
            })?),
            Vec::new(),
        )
    } else {
        let mut list: Vec<SignerCtx> =
            nasvyazi_letters::records::confirmed_signers(db, &state.keys, l.id)
                .await
                .map_err(|e| ApiError::internal(e.into()))?
                .into_iter()
                .map(|s| SignerCtx {
                    name: s.name,
                    city: s.city,
                    note: s.note.unwrap_or_default(),
                })
                .collect();
        list.extend(sample);
        (None, list)
    };
    let config = &state.infra.config;
    let ctx = LetterContext {
        org: config.organisation.name.clone(),
        letter: l.name.clone(),
        official: OfficialCtx {
            name: official.name.clone(),
            position: official.position.clone(),
            organisation: official.organisation.clone(),
        },
        count: signatories.len(),
        signer,
        signatories,
    };
    let lang = req.language.unwrap_or(official.language);
    let letter =
        render(&l.templates, lang, &ctx).map_err(|e| ApiError::validation(e.to_string()))?;
    Ok(ApiJson(Preview {
        letter,
        from: config.email.from.clone(),
        reply_to_signer: l.mode == "each",
        reply_to: l.reply_to.clone(),
        message_id: message_id(l.id, COLLECTIVE, official.id, &config.email.from),
    }))
}

/// Letters per official: pending, sent, failed, unknown (and skipped).
#[utoipa::path(get, path = "/api/v1/admin/letters/{id}/progress", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Progress), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn progress_of(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Progress>, ApiError> {
    admin.require(ROLES)?;
    let l = load(&state, id).await?;
    let from = &state.infra.config.email.from;
    Ok(ApiJson(
        progress::progress(&state.infra.db, &state.keys, &l, from).await?,
    ))
}

/// One line per letter, for the organisers' records (CSV).
#[utoipa::path(get, path = "/api/v1/admin/letters/{id}/report.csv", tag = "letters", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn report(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    admin.require(ROLES)?;
    let l = load(&state, id).await?;
    let from = &state.infra.config.email.from;
    let bytes = progress::report_csv(&state.infra.db, &state.keys, &l, from).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"letter-{}.csv\"", l.slug),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolve {
    /// `sent` (it arrived: record it) or `requeue` (send it again).
    #[schema(value_type = LetterResolution)]
    pub resolution: String,
}

/// What became of a letter whose fate was unknown.
#[derive(ToSchema)]
#[schema(as = LetterResolution)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum LetterResolution {
    Sent,
    Requeue,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResolveAccepted)]
pub struct Accepted {
    pub status: &'static str,
}

/// Resolves a letter whose fate is unknown (after checking with the
/// official's office): mark it sent, or send it again. Audited.
#[utoipa::path(post, path = "/api/v1/admin/letters/{id}/deliveries/{delivery_id}/resolve", tag = "letters",
    security(("bearer" = [])), params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)), request_body = Resolve,
    responses((status = 202, body = Accepted), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E),
              (status = 409, body = E), (status = 422, body = E)))]
pub async fn resolve(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, delivery_id)): Path<(Uuid, Uuid)>,
    ApiJson(req): ApiJson<Resolve>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let who = admin.require(ROLES)?;
    if !matches!(req.resolution.as_str(), "sent" | "requeue") {
        return Err(ApiError::validation("resolution: sent or requeue"));
    }
    progress::resolve(&state.infra.db, who, id, delivery_id, &req.resolution)
        .await?
        .map_err(|r| match r {
            progress::Refused::NotFound => ApiError::not_found(),
            progress::Refused::NotUnknown => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "only a letter whose fate is unknown can be resolved",
            ),
        })?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Accepted { status: "accepted" }),
    ))
}
