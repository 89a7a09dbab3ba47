//! The caseworkers' admin API for appeals (role caseworker or admin):
//! list and filter, read one (decrypts; the read is audited), assign,
//! internal notes, status changes, forwarding, statistics (JSON and CSV,
//! small cells suppressed); and the OST sites organisers keep.
//!
//! Every action writes its audit row in its own transaction; audit rows and
//! error messages carry ids and codes only.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use nasvyazi_cases::appeals::stored::{CATEGORIES, STATUSES};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::error::{ApiError, ApiJson, ErrorBody};
use nasvyazi_supporters::regions::{self, Names};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa::{IntoParams, PartialSchema, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::appeals::model::{self, MAX_TEXT_CHARS};
use crate::appeals::sites::{self, Site};
use crate::appeals::staff::{self, AppealDetail, AppealItem, ForwardRequest};
use crate::appeals::stats::{self, Stats, StatsFilter};
use crate::auth::Admin;
use nasvyazi_cases::staff::{self as cases, Case};

/// The caseworkers' API (staff listener).
pub fn routes() -> super::Api {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(stats))
        .routes(routes!(stats_csv))
        .routes(routes!(read))
        .routes(routes!(assign))
        .routes(routes!(add_note))
        .routes(routes!(set_status))
        .routes(routes!(forward))
        .routes(routes!(list_sites, add_site))
        .routes(routes!(deactivate_site))
}

fn known(list: &[&'static str], value: &str, field: &str) -> Result<&'static str, ApiError> {
    list.iter()
        .find(|v| **v == value)
        .copied()
        .ok_or_else(|| ApiError::validation(format!("{field}: one of {}", list.join(", "))))
}

/// An appeal's id from the path: its uuid, or its case number.
async fn resolve(state: &AppState, key: &str) -> Result<Uuid, ApiError> {
    if let Ok(id) = key.parse::<Uuid>() {
        return Ok(id);
    }
    let number = model::canonical_case_number(key).ok_or_else(ApiError::not_found)?;
    staff::id_of(&state.infra.db, &number)
        .await?
        .ok_or_else(ApiError::not_found)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `new`, `triaged`, `forwarded`, `resolved` or `closed`.
    #[param(value_type = Option<AppealStatusCode>, inline)]
    pub status: Option<String>,
    #[param(value_type = Option<super::appeals::AppealCategory>, inline)]
    pub category: Option<String>,
    pub region: Option<String>,
    pub site: Option<String>,
    /// Received on or after this day (`YYYY-MM-DD`, UTC).
    pub from: Option<NaiveDate>,
    /// Received on or before this day (`YYYY-MM-DD`, UTC).
    pub to: Option<NaiveDate>,
    /// At most this many (default 100; values outside 1..=500 are clamped
    /// to that range).
    pub limit: Option<i64>,
    /// Skip this many (default 0; a negative value counts as 0).
    pub offset: Option<i64>,
}

/// An appeal's status.
#[derive(ToSchema)]
#[schema(as = AppealStatusCode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatusCode {
    New,
    Triaged,
    Forwarded,
    Resolved,
    Closed,
}

/// A status a caseworker may set (`forwarded` only through the forward
/// action).
#[derive(ToSchema)]
#[schema(as = AppealStatusChange)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum AppealStatusChange {
    New,
    Triaged,
    Resolved,
    Closed,
}

/// `json` or `csv`.
#[derive(ToSchema)]
#[schema(as = StatsFormat)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum StatsFormat {
    Json,
    Csv,
}

/// Appeals, newest first, filtered; no text, no contact.
#[utoipa::path(get, path = "/api/v1/admin/appeals", tag = "appeals", security(("bearer" = [])),
    params(ListQuery),
    responses((status = 200, body = [AppealItem]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<ListQuery>,
) -> Result<ApiJson<Vec<AppealItem>>, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let filter = staff::Filter {
        status: q
            .status
            .as_deref()
            .map(|s| known(STATUSES, s, "status").map(str::to_string))
            .transpose()?,
        category: q
            .category
            .as_deref()
            .map(|s| known(CATEGORIES, s, "category").map(str::to_string))
            .transpose()?,
        region: q.region,
        site: q.site,
        from: q.from,
        to: q.to,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
    };
    Ok(ApiJson(staff::list(state.staff(who), &filter).await?))
}

/// One appeal, decrypted: text, contact, notes, additions. The read is
/// audited.
#[utoipa::path(get, path = "/api/v1/admin/appeals/{id}", tag = "appeals", security(("bearer" = [])),
    params(("id" = String, Path, description = "appeal id or case number")),
    responses((status = 200, body = AppealDetail), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<ApiJson<AppealDetail>, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let id = resolve(&state, &key).await?;
    Ok(ApiJson(staff::read(state.staff(who), id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// An admin token id (caseworker or admin); null to unassign.
    pub to: Option<Uuid>,
}

/// Assigns the case to a caseworker's token.
#[utoipa::path(post, path = "/api/v1/admin/appeals/{id}/assign", tag = "appeals", security(("bearer" = [])),
    params(("id" = String, Path, description = "appeal id or case number")),
    request_body = AssignRequest,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let id = resolve(&state, &key).await?;
    cases::assign(state.staff(who), Case::Appeal(id), body.to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// 1 to 10,000 characters, not only spaces, no NUL; sealed, visible to
    /// caseworkers only.
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteCreated {
    pub id: Uuid,
}

/// Adds an internal note (encrypted at rest).
#[utoipa::path(post, path = "/api/v1/admin/appeals/{id}/notes", tag = "appeals", security(("bearer" = [])),
    params(("id" = String, Path, description = "appeal id or case number")),
    request_body = NoteRequest,
    responses((status = 201, body = NoteCreated), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<NoteRequest>,
) -> Result<(StatusCode, ApiJson<NoteCreated>), ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let text = model::valid_text(&body.text)
        .ok_or_else(|| ApiError::validation(format!("text: 1 to {MAX_TEXT_CHARS} characters")))?;
    let id = resolve(&state, &key).await?;
    let note = staff::add_note(state.staff(who), id, &text).await?;
    Ok((StatusCode::CREATED, ApiJson(NoteCreated { id: note })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `new`, `triaged`, `resolved` or `closed` (`forwarded` through the
    /// forward action).
    #[schema(value_type = AppealStatusChange)]
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusNow {
    pub status: &'static str,
}

/// Changes the status; the appellant is told if they left a contact.
#[utoipa::path(post, path = "/api/v1/admin/appeals/{id}/status", tag = "appeals", security(("bearer" = [])),
    params(("id" = String, Path, description = "appeal id or case number")),
    request_body = StatusChange,
    responses((status = 200, body = StatusNow), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_status(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<StatusChange>,
) -> Result<ApiJson<StatusNow>, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let to = known(STATUSES, &body.status, "status")?;
    let id = resolve(&state, &key).await?;
    let status = staff::set_status(state.staff(who), id, to).await?;
    Ok(ApiJson(StatusNow { status }))
}

/// Records forwarding to an official and sets `forwarded`; refused (409)
/// without the appellant's consent.
#[utoipa::path(post, path = "/api/v1/admin/appeals/{id}/forward", tag = "appeals", security(("bearer" = [])),
    params(("id" = String, Path, description = "appeal id or case number")),
    request_body = ForwardRequest,
    responses((status = 200, body = StatusNow), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn forward(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<ForwardRequest>,
) -> Result<ApiJson<StatusNow>, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let official = body.official.trim();
    if official.is_empty() || official.chars().count() > 500 {
        return Err(ApiError::validation("official: 1 to 500 characters"));
    }
    if body
        .note
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_TEXT_CHARS)
    {
        return Err(ApiError::validation(format!(
            "note: at most {MAX_TEXT_CHARS} characters"
        )));
    }
    let id = resolve(&state, &key).await?;
    staff::forward(state.staff(who), id, &body).await?;
    Ok(ApiJson(StatusNow {
        status: "forwarded",
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First month counted (`YYYY-MM-DD`; the day is ignored).
    pub from: Option<NaiveDate>,
    /// Last month counted (`YYYY-MM-DD`; the day is ignored).
    pub to: Option<NaiveDate>,
    pub region: Option<String>,
    #[param(value_type = Option<super::appeals::AppealCategory>, inline)]
    pub category: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<StatsFormat>, inline)]
    pub format: Option<String>,
}

// Documentation only: `stats.csv` reads `StatsQuery` but always answers in
// CSV, whatever `format` says.
/// The filters of `GET /api/v1/admin/appeals/stats.csv`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatsCsvQuery {
    /// First month counted (`YYYY-MM-DD`; the day is ignored).
    from: Option<NaiveDate>,
    /// Last month counted (`YYYY-MM-DD`; the day is ignored).
    to: Option<NaiveDate>,
    region: Option<String>,
    #[param(value_type = Option<super::appeals::AppealCategory>, inline)]
    category: Option<String>,
    /// Ignored: the answer is always CSV.
    format: Option<String>,
}

async fn stats_response(
    state: &AppState,
    admin: &Admin,
    q: StatsQuery,
    csv: bool,
) -> Result<Response, ApiError> {
    let who = admin.require(&[Role::Caseworker])?;
    let csv = csv
        || match q.format.as_deref() {
            None | Some("json") => false,
            Some("csv") => true,
            Some(_) => return Err(ApiError::validation("format: json or csv")),
        };
    let filter = StatsFilter {
        from: q.from,
        to: q.to,
        region: q.region,
        category: q
            .category
            .as_deref()
            .map(|s| known(CATEGORIES, s, "category").map(str::to_string))
            .transpose()?,
    };
    let mut tx = state.infra.db.begin().await?;
    let stats: Stats = stats::compute(
        &mut tx,
        &state.infra.config.campaigns.default_time_zone,
        &filter,
    )
    .await?;
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "appeal.stats",
        None,
        serde_json::json!({ "format": if csv { "csv" } else { "json" } }),
    )
    .await?;
    tx.commit().await?;
    if csv {
        Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"appeals-stats.csv\"",
                ),
            ],
            stats::to_csv(&stats),
        )
            .into_response())
    } else {
        Ok(ApiJson(stats).into_response())
    }
}

/// Counts by month, region, site and category (live and erased appeals),
/// cells under 5 shown as `<5`. `?format=csv` for CSV.
#[utoipa::path(get, path = "/api/v1/admin/appeals/stats", tag = "appeals", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, content((Stats = "application/json"), (String = "text/csv"))),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    stats_response(&state, &admin, q, false).await
}

/// The statistics' cross table as CSV (`month,region,site,category,count`).
#[utoipa::path(get, path = "/api/v1/admin/appeals/stats.csv", tag = "appeals", security(("bearer" = [])),
    params(StatsCsvQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn stats_csv(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    stats_response(&state, &admin, q, true).await
}

/// Every site, active or not (organiser, caseworker or admin).
#[utoipa::path(get, path = "/api/v1/admin/sites", tag = "appeals", security(("bearer" = [])),
    responses((status = 200, body = [Site]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_sites(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<Site>>, ApiError> {
    admin.require(&[Role::Organiser, Role::Caseworker])?;
    Ok(ApiJson(sites::list(&state.infra.db, true, None).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSite {
    /// 1-40 of a-z, 0-9 and `_`, e.g. `pavlodar_narcology`.
    #[schema(pattern = r"^[a-z0-9_]{1,40}$")]
    pub code: String,
    pub region: String,
    pub city: String,
    #[schema(value_type = SiteNames)]
    pub name: Names,
}

// Documentation only: `Names` as a site's name accepts them.
/// A name in the three interface languages: each 1 to 200 characters, not
/// only spaces, no NUL.
#[derive(ToSchema)]
#[schema(as = SiteNames)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
pub struct SiteNames {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    ru: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    kk: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    en: String,
}

/// Documentation only: [`NewSite`] with `region` and `city` a place of the
/// built-in list.
pub struct NewSiteDoc;

impl PartialSchema for NewSiteDoc {
    fn schema() -> RefOr<Schema> {
        super::appeals::per_builtin_place(NewSite::schema())
    }
}

impl ToSchema for NewSiteDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        NewSite::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        NewSite::schemas(schemas);
    }
}

fn valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Adds an OST site (organiser, caseworker or admin).
#[utoipa::path(post, path = "/api/v1/admin/sites", tag = "appeals", security(("bearer" = [])),
    request_body = NewSiteDoc,
    responses((status = 201, body = Site), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_site(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewSite>,
) -> Result<(StatusCode, ApiJson<Site>), ApiError> {
    let who = admin.require(&[Role::Organiser, Role::Caseworker])?;
    if !valid_code(&body.code) {
        return Err(ApiError::validation("code: 1-40 of a-z, 0-9 and _"));
    }
    let places = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    if !regions::is_known(&places, &body.region, Some(&body.city)) {
        return Err(ApiError::validation(
            "region/city: a place from GET /api/v1/regions",
        ));
    }
    for (lang, n) in [
        ("ru", &body.name.ru),
        ("kk", &body.name.kk),
        ("en", &body.name.en),
    ] {
        if n.trim().is_empty() || n.chars().count() > 200 {
            return Err(ApiError::validation(format!(
                "name.{lang}: 1 to 200 characters"
            )));
        }
    }
    let site = Site {
        code: body.code,
        region: body.region,
        city: body.city,
        name: Names {
            ru: body.name.ru.trim().into(),
            kk: body.name.kk.trim().into(),
            en: body.name.en.trim().into(),
        },
        active: true,
    };
    let mut tx = state.infra.db.begin().await?;
    if !sites::add(&mut tx, &site).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "a site with this code exists",
        ));
    }
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "site.add",
        Some(&site.code),
        serde_json::json!({ "region": site.region, "city": site.city }),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(site)))
}

/// Deactivates a site: no longer offered, kept for old appeals and counts.
#[utoipa::path(delete, path = "/api/v1/admin/sites/{code}", tag = "appeals", security(("bearer" = [])),
    params(("code" = String, Path, description = "site code")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn deactivate_site(
    State(state): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(&[Role::Organiser, Role::Caseworker])?;
    let mut tx = state.infra.db.begin().await?;
    if !sites::set_active(&mut tx, &code, false).await? {
        return Err(ApiError::not_found());
    }
    auth::audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "site.deactivate",
        Some(&code),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
