//! The appellant's JSON API: `POST /api/v1/appeals`, the status and
//! additions with the (case number, access code) pair, and the public list
//! of OST sites.
//!
//! Every wrong pair gets the same 404 body; every request of an address
//! beyond `appeals.rate_limit_per_minute` gets 429 with a clear message.
//! Nothing here echoes or logs the text or the contact.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nasvyazi_shared::error::{ApiError, ApiJson, ErrorBody, ErrorDetail};
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_supporters::regions;
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::AppState;
use crate::appeals::sites::{self, Site};
use crate::appeals::{ContactInput, Input, Purpose, model, store};
use crate::limits::ClientIp;

/// An appeal. Anonymous unless `contact` is given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    /// `hospital_no_ost`, `take_home_refused`, `supply_interruption`,
    /// `police`, `discrimination`, `hiv_hepatitis_tb` or `other`.
    #[schema(value_type = AppealCategory)]
    pub category: String,
    /// A region code from `GET /api/v1/regions`.
    pub region: String,
    /// A city code of that region.
    pub city: String,
    /// A site code from `GET /api/v1/sites` (an active site in that region);
    /// blank or absent for none.
    #[schema(pattern = r"^([\t\n\r ]*|[a-z0-9_]{1,40})$")]
    pub site: Option<String>,
    /// What happened: 1 to 10,000 characters, not only spaces, no NUL
    /// (sealed, never echoed).
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub text: String,
    /// `{ "email": ... }` or `{ "telegram": ... }`; absent to stay anonymous.
    #[schema(value_type = Option<crate::appeals::model::AppealContact>)]
    pub contact: Option<ContactInput>,
    /// Whether the organisation may pass the case to an official.
    #[serde(default)]
    pub consent_to_forward: bool,
    /// Language of acknowledgements (default: from Accept-Language, else ru).
    pub language: Option<Lang>,
}

/// An appeal's category.
#[derive(ToSchema)]
#[schema(as = AppealCategory)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum AppealCategory {
    HospitalNoOst,
    TakeHomeRefused,
    SupplyInterruption,
    Police,
    Discrimination,
    HivHepatitisTb,
    Other,
}

/// Documentation only: `base` (an object schema) once per variant, each
/// with some properties replaced (and required when marked so); a request
/// matches exactly one variant. For rules where one field decides what
/// another may be.
pub(crate) fn one_of_variants<'a>(
    base: RefOr<Schema>,
    variants: impl IntoIterator<Item = Vec<(&'a str, RefOr<Schema>, bool)>>,
) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(object)) = base else {
        return base;
    };
    let mut one_of = OneOfBuilder::new().description(object.description.clone());
    for fields in variants {
        let mut branch = object.clone();
        branch.description = None;
        for (name, schema, required) in fields {
            branch.properties.insert(name.to_string(), schema);
            if required && !branch.required.iter().any(|r| r == name) {
                branch.required.push(name.to_string());
            }
        }
        one_of = one_of.item(branch);
    }
    one_of.into()
}

/// Documentation only: a string that is one of `values`.
pub(crate) fn string_of<'a>(
    values: impl IntoIterator<Item = &'a str>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

/// Documentation only: `base` (with `region` and `city`) once per region of
/// the built-in list, `city` one of that region's cities. (Places organisers
/// added are accepted too.)
pub(crate) fn per_builtin_place(base: RefOr<Schema>) -> RefOr<Schema> {
    one_of_variants(
        base,
        regions::builtin().iter().map(|r| {
            vec![
                (
                    "region",
                    string_of(
                        [r.code.as_str()],
                        "A region code from `GET /api/v1/regions`.",
                    ),
                    true,
                ),
                (
                    "city",
                    string_of(
                        r.cities.iter().map(|c| c.code.as_str()),
                        "A city code of that region.",
                    ),
                    true,
                ),
            ]
        }),
    )
}

/// Documentation only: [`AppealRequest`] with `region` and `city` a place
/// of the built-in list.
pub struct AppealRequestDoc;

impl PartialSchema for AppealRequestDoc {
    fn schema() -> RefOr<Schema> {
        per_builtin_place(AppealRequest::schema())
    }
}

impl ToSchema for AppealRequestDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        AppealRequest::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        AppealRequest::schemas(schemas);
    }
}

/// The answer to an accepted appeal: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppealCreated {
    /// E.g. `KZ-7F3K-9QX2`: not secret, not guessable.
    pub case_number: String,
    /// Secret: needed with the case number to see the status. Stored only
    /// as a hash; it cannot be shown again.
    pub access_code: String,
}

/// The pair that opens an appeal.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub case_number: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub access_code: String,
}

/// What the appellant may see.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppealStatus {
    pub case_number: String,
    /// `new`, `triaged`, `forwarded`, `resolved` or `closed`.
    pub status: String,
    pub received_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// How many additions the appellant has made.
    pub additions: i64,
}

/// More information from the appellant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InformationRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub case_number: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub access_code: String,
    /// 1 to 10,000 characters, not only spaces, no NUL (sealed, never
    /// echoed).
    #[schema(
        min_length = 1,
        max_length = 10000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub text: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InformationAdded {
    pub status: &'static str,
}

/// The one answer to every wrong (case number, access code) pair.
fn no_such_pair() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "No appeal matches this case number and access code.",
    )
}

/// 429 with `Retry-After` and a message that says nothing was lost.
pub fn rate_limited(wait: Duration) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "rate_limited".into(),
            message: "Too many requests from this network in the last minute. Nothing already \
                      sent was lost. Please wait a minute and try again."
                .into(),
        },
    };
    let secs = wait.as_secs().max(1).to_string();
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs)],
        ApiJson(body),
    )
        .into_response()
}

/// Submits an appeal (anonymous by default). Rate-limited per address.
#[utoipa::path(post, path = "/api/v1/appeals", tag = "public",
    request_body = AppealRequestDoc,
    params(("X-Proof-Of-Work" = Option<String>, Header,
            description = "While `GET /api/v1/challenge` says `required`: the challenge, solved (`<challenge>:<counter>`) or `wait_secs` old; single use. Without it: 429 `proof_of_work`.")),
    responses((status = 201, body = AppealCreated), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    ApiJson(body): ApiJson<AppealRequest>,
) -> Result<Response, ApiError> {
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Submit, &client).await {
        return Ok(rate_limited(wait));
    }
    let places = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let known_sites = sites::active_refs(&state.infra.db).await?;
    let language = body
        .language
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Ru);
    let valid = Input {
        category: &body.category,
        region: &body.region,
        city: &body.city,
        site: body.site.as_deref(),
        text: &body.text,
        contact: body.contact.as_ref(),
        consent_to_forward: body.consent_to_forward,
        language,
    }
    .validate(&places, &known_sites)
    .map_err(|invalid| {
        ApiError::validation(format!(
            "{}: {}",
            invalid.field(),
            i18n::t(Lang::En, invalid.message_key())
        ))
    })?;
    let onion = crate::pages::via_onion(&state, &headers);
    let created = store::submit_via(&state.infra.db, &state.keys, &valid, onion).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(AppealCreated {
            case_number: created.case_number,
            access_code: created.access_code.to_string(),
        }),
    )
        .into_response())
}

/// The status of an appeal, with its case number and access code. Every
/// wrong pair gets the same 404.
#[utoipa::path(post, path = "/api/v1/appeals/status", tag = "public",
    request_body = StatusRequest,
    responses((status = 200, body = AppealStatus), (status = 404, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<StatusRequest>,
) -> Result<Response, ApiError> {
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Status, &client).await {
        return Ok(rate_limited(wait));
    }
    let found = store::lookup(
        &state.infra.db,
        &state.keys,
        &body.case_number,
        &body.access_code,
    )
    .await?
    .ok_or_else(no_such_pair)?;
    Ok(ApiJson(AppealStatus {
        case_number: found.case_number,
        status: found.status,
        received_at: found.created_at,
        updated_at: found.updated_at,
        additions: found.additions,
    })
    .into_response())
}

/// Adds information to an appeal, with its case number and access code.
#[utoipa::path(post, path = "/api/v1/appeals/information", tag = "public",
    request_body = InformationRequest,
    responses((status = 201, body = InformationAdded), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn add_information(
    State(state): State<AppState>,
    client: ClientIp,
    ApiJson(body): ApiJson<InformationRequest>,
) -> Result<Response, ApiError> {
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Status, &client).await {
        return Ok(rate_limited(wait));
    }
    let text = model::valid_text(&body.text)
        .ok_or_else(|| ApiError::validation("text: 1 to 10,000 characters"))?;
    let added = store::add_information(
        &state.infra.db,
        &state.keys,
        &body.case_number,
        &body.access_code,
        &text,
    )
    .await?;
    if !added {
        return Err(no_such_pair());
    }
    Ok((
        StatusCode::CREATED,
        ApiJson(InformationAdded { status: "added" }),
    )
        .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SitesQuery {
    /// Only the sites of this region.
    pub region: Option<String>,
}

/// The OST sites an appeal may name (active ones).
#[utoipa::path(get, path = "/api/v1/sites", tag = "reference", params(SitesQuery),
    responses((status = 200, body = [Site])))]
pub async fn list_sites(
    State(state): State<AppState>,
    Query(q): Query<SitesQuery>,
) -> Result<ApiJson<Vec<Site>>, ApiError> {
    Ok(ApiJson(
        sites::list(&state.infra.db, false, q.region.as_deref()).await?,
    ))
}
