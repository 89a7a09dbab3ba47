//! The consultations' JSON API. Public (the web's `/api/v1/talk`): open a
//! conversation, read it and write again with the number and access code.
//! Staff (console listener, role consultant or admin): the inbox, reading
//! (audited), claiming, replies, notes, tags, referral, close / reopen,
//! block, media through a proxy, canned answers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::{ApiError, ApiJson, ErrorBody};
use nasvyazi_shared::i18n::Lang;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::{self, CannedAnswer, ConversationDetail, ConversationItem, Filter, VIEWS};
use super::web::{self, OpenError, PublicConversation};
use crate::AppState;
use crate::auth::Admin;
use nasvyazi_cases::staff::{self as cases, Case};

const ROLES: &[Role] = &[Role::Consultant];

// ---------------------------------------------------------------- public

/// A first message, from someone without Telegram.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkRequest {
    /// 1 to 4,000 characters, not only spaces, no NUL (sealed, never echoed).
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub text: String,
    /// The language of the answers (default ru).
    pub language: Option<Lang>,
}

/// The answer to a new conversation: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TalkCreated {
    /// E.g. `NS-7F3K-9QX2`.
    pub number: String,
    /// Secret: with the number it opens the conversation. Stored only as a
    /// keyed hash; it cannot be shown again.
    pub access_code: String,
}

/// The pair that opens a conversation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkStatusRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub number: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub access_code: String,
}

/// Another message with the pair.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TalkMessageRequest {
    #[schema(pattern = r"^[^\x00]*$")]
    pub number: String,
    #[schema(pattern = r"^[^\x00]*$")]
    pub access_code: String,
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = r"^[^\x00]*[^\s\x00][^\x00]*$"
    )]
    pub text: String,
}

/// The same answer for any wrong pair.
fn no_such_pair() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no conversation with this number and access code",
    )
}

fn bad_text() -> ApiError {
    ApiError::validation(format!(
        "text: 1 to {} characters, not only spaces",
        web::MAX_TEXT_CHARS
    ))
}

/// Opens a conversation with a consultant (anonymous; no account, no IP
/// address stored).
#[utoipa::path(post, path = "/api/v1/talk", tag = "consultations", request_body = TalkRequest,
    responses((status = 201, body = TalkCreated), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn talk(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TalkRequest>,
) -> Result<Response, ApiError> {
    let text = web::valid_text(&body.text).ok_or_else(bad_text)?;
    let lang = body.language.unwrap_or(Lang::Ru);
    let created = web::create(
        &state.infra.db,
        &state.keys,
        &state.infra.config.consultations,
        text,
        lang,
    )
    .await
    .map_err(|e| match e {
        OpenError::Busy => {
            ApiError::unavailable("too many new conversations; try again in a minute")
        }
        OpenError::Internal(e) => ApiError::internal(e),
    })?;
    Ok((
        StatusCode::CREATED,
        ApiJson(TalkCreated {
            number: created.number,
            access_code: created.access_code.to_string(),
        }),
    )
        .into_response())
}

/// The conversation the pair opens: every message, staff shown as the
/// organisation. Any wrong pair: the same 404.
#[utoipa::path(post, path = "/api/v1/talk/status", tag = "consultations",
    request_body = TalkStatusRequest,
    responses((status = 200, body = PublicConversation), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn talk_status(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TalkStatusRequest>,
) -> Result<ApiJson<PublicConversation>, ApiError> {
    let id = web::lookup(
        &state.infra.db,
        &state.keys,
        &body.number,
        &body.access_code,
    )
    .await?
    .ok_or_else(no_such_pair)?;
    let conversation = web::read(&state.infra.db, &state.keys, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(no_such_pair)?;
    Ok(ApiJson(conversation))
}

/// Writes again in the conversation the pair opens (a closed one opens
/// again). Any wrong pair: the same 404.
#[utoipa::path(post, path = "/api/v1/talk/messages", tag = "consultations",
    request_body = TalkMessageRequest,
    responses((status = 201), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn talk_message(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<TalkMessageRequest>,
) -> Result<StatusCode, ApiError> {
    let text = web::valid_text(&body.text).ok_or_else(bad_text)?;
    let id = web::lookup(
        &state.infra.db,
        &state.keys,
        &body.number,
        &body.access_code,
    )
    .await?
    .ok_or_else(no_such_pair)?;
    web::add(&state.infra.db, &state.keys, id, text)
        .await
        .map_err(ApiError::internal)?;
    Ok(StatusCode::CREATED)
}

/// The public JSON API: writing to us without Telegram.
pub fn public_api() -> crate::api::Api {
    OpenApiRouter::new()
        .routes(routes!(talk))
        .routes(routes!(talk_status))
        .routes(routes!(talk_message))
}

// ---------------------------------------------------------------- staff

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `open` or `closed` (default: both).
    pub state: Option<String>,
    /// `unassigned`, `mine`, `waiting_for_us` or `waiting_for_person`.
    pub view: Option<String>,
    /// At most this many (default 100, clamped to 1..=500).
    pub limit: Option<i64>,
    /// Skip this many (default 0).
    pub offset: Option<i64>,
}

/// The inbox: conversations, newest first. No message text.
#[utoipa::path(get, path = "/api/v1/admin/conversations", tag = "consultations",
    security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = [ConversationItem]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<ListQuery>,
) -> Result<ApiJson<Vec<ConversationItem>>, ApiError> {
    let who = admin.require(ROLES)?;
    if let Some(s) = &q.state
        && s != "open"
        && s != "closed"
    {
        return Err(ApiError::validation("state: open or closed"));
    }
    if let Some(v) = &q.view
        && !VIEWS.contains(&v.as_str())
    {
        return Err(ApiError::validation(format!(
            "view: one of {}",
            VIEWS.join(", ")
        )));
    }
    let filter = Filter {
        state: q.state,
        view: q.view,
        limit: q.limit.unwrap_or(100).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
    };
    Ok(ApiJson(store::list(state.staff(who), &filter).await?))
}

/// One conversation, decrypted (messages and notes). The read is audited.
#[utoipa::path(get, path = "/api/v1/admin/conversations/{id}", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 200, body = ConversationDetail), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<ApiJson<ConversationDetail>, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    Ok(ApiJson(store::read(state.staff(who), id).await?))
}

/// Takes the conversation (assigns it to the caller).
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/claim", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    let case = Case::Conversation(id);
    cases::assign(state.staff(who), case, Some(who.token_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// A console user's or token's id; null to unassign (hand over).
    pub to: Option<Uuid>,
}

/// Assigns the conversation to someone else, or to no one.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/assign", tag = "consultations",
    security(("bearer" = [])), request_body = AssignRequest,
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn assign(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    if let Some(to) = body.to {
        let known: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM console_users WHERE id = $1 AND disabled_at IS NULL
                 AND role IN ('consultant', 'admin')
             UNION ALL SELECT 1 FROM admin_tokens WHERE id = $1 AND revoked_at IS NULL
                 AND role IN ('consultant', 'admin') LIMIT 1",
        )
        .bind(to)
        .fetch_optional(&state.infra.db)
        .await?;
        if known.is_none() {
            return Err(ApiError::validation(
                "to: a consultant's or admin's user or token id",
            ));
        }
    }
    cases::assign(state.staff(who), Case::Conversation(id), body.to).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A reply or a note.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    /// 1 to 4,096 characters. Replies are Telegram HTML (b, i, u, s, a,
    /// code, pre, blockquote; `&lt;` for <).
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
}

/// What was stored.
#[derive(Serialize, ToSchema)]
pub struct Stored {
    pub id: Uuid,
}

/// Replies to the person: from the bot (or on the web page), as the
/// organisation, delivered at most once.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/replies", tag = "consultations",
    security(("bearer" = [])), request_body = TextRequest,
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 201, body = Stored), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reply(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<TextRequest>,
) -> Result<Response, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    let mid = store::reply(state.staff(who), id, &body.text, true).await?;
    Ok((StatusCode::CREATED, ApiJson(Stored { id: mid })).into_response())
}

/// An internal note: staff only, never sent.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/notes", tag = "consultations",
    security(("bearer" = [])), request_body = TextRequest,
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 201, body = Stored), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn note(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<TextRequest>,
) -> Result<Response, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    let mid = store::note(state.staff(who), id, &body.text).await?;
    Ok((StatusCode::CREATED, ApiJson(Stored { id: mid })).into_response())
}

/// Closes or reopens, and the staff topic with it.
pub async fn change_state(
    state: &AppState,
    admin: &Admin,
    key: &str,
    open: bool,
) -> Result<(), ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, key).await?;
    let change = store::set_state(state.staff(who), id, open).await?;
    if let (Some(thread), Some(bot)) = (change.staff_thread_id, state.telegram.as_ref()) {
        super::staff_group::set_topic_open(bot, thread, open).await;
    }
    Ok(())
}

/// Closes the conversation (the person writing again opens a new one).
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/close", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn close(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    change_state(&state, &admin, &key, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reopens a closed conversation.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/reopen", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reopen(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    change_state(&state, &admin, &key, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Blocks the person (abuse): no answer and nothing stored from them any
/// more; the conversation closes.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/block", tag = "consultations",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn block(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    store::block(state.staff(who), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsRequest {
    /// Each from `consultations.tags`.
    pub tags: Vec<String>,
}

/// Sets the topic tags.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/tags", tag = "consultations",
    security(("bearer" = [])), request_body = TagsRequest,
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn tags(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<TagsRequest>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    let allowed = &state.infra.config.consultations.tags;
    store::set_tags(state.staff(who), id, &body.tags, allowed).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferRequest {
    /// One of `consultations.specialities` (lawyer, psychologist, medic...).
    pub to: String,
}

/// Refers the conversation to a speciality; its people are alerted with
/// the number only.
#[utoipa::path(post, path = "/api/v1/admin/conversations/{id}/refer", tag = "consultations",
    security(("bearer" = [])), request_body = ReferRequest,
    params(("id" = String, Path, description = "conversation id or number")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn refer(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<ReferRequest>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let id = store::resolve(&state.infra.db, &key).await?;
    let allowed = &state.infra.config.consultations.specialities;
    store::refer(state.staff(who), id, &body.to, allowed).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CannedQuery {
    /// Only this language.
    pub language: Option<Lang>,
}

/// Canned answers, per language.
#[utoipa::path(get, path = "/api/v1/admin/canned-answers", tag = "consultations",
    security(("bearer" = [])), params(CannedQuery),
    responses((status = 200, body = [CannedAnswer]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn canned_list(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<CannedQuery>,
) -> Result<ApiJson<Vec<CannedAnswer>>, ApiError> {
    admin.require(&[Role::Consultant, Role::Organiser])?;
    Ok(ApiJson(
        store::canned_list(&state.infra.db, q.language).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedRequest {
    pub language: Lang,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// 1 to 4,000 characters of Telegram HTML.
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// Adds a canned answer (organisers and consultants).
#[utoipa::path(post, path = "/api/v1/admin/canned-answers", tag = "consultations",
    security(("bearer" = [])), request_body = CannedRequest,
    responses((status = 201, body = CannedAnswer), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn canned_create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CannedRequest>,
) -> Result<Response, ApiError> {
    let who = admin.require(&[Role::Consultant, Role::Organiser])?;
    let saved = store::canned_save(
        &state.infra.db,
        who,
        None,
        body.language,
        &body.title,
        &body.body,
    )
    .await?;
    Ok((StatusCode::CREATED, ApiJson(saved)).into_response())
}

/// Replaces a canned answer.
#[utoipa::path(put, path = "/api/v1/admin/canned-answers/{id}", tag = "consultations",
    security(("bearer" = [])), request_body = CannedRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CannedAnswer), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn canned_update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(body): ApiJson<CannedRequest>,
) -> Result<ApiJson<CannedAnswer>, ApiError> {
    let who = admin.require(&[Role::Consultant, Role::Organiser])?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM canned_answers WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.infra.db)
        .await?;
    if exists.is_none() {
        return Err(ApiError::not_found());
    }
    Ok(ApiJson(
        store::canned_save(
            &state.infra.db,
            who,
            Some(id),
            body.language,
            &body.title,
            &body.body,
        )
        .await?,
    ))
}

/// Deletes a canned answer.
#[utoipa::path(delete, path = "/api/v1/admin/canned-answers/{id}", tag = "consultations",
    security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn canned_delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(&[Role::Consultant, Role::Organiser])?;
    store::canned_delete(&state.infra.db, who, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The staff routes (console listener only).
pub fn staff_api() -> crate::api::Api {
    use super::{media, retention};
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(claim))
        .routes(routes!(assign))
        .routes(routes!(reply))
        .routes(routes!(note))
        .routes(routes!(close))
        .routes(routes!(reopen))
        .routes(routes!(block))
        .routes(routes!(tags))
        .routes(routes!(refer))
        .routes(routes!(media::download))
        .routes(routes!(canned_list, canned_create))
        .routes(routes!(canned_update, canned_delete))
        .routes(routes!(retention::stats))
}
