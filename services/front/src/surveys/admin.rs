//! `/api/v1/admin/surveys` (role organiser or admin, changes and free-text
//! reads audited): create, list, read, open, close, results (JSON and CSV,
//! small cells suppressed) and the free-text answers. Handlers only: the
//! work is `nasvyazi_surveys`'s; errors returned leak no answer.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_surveys::model::{self, Question, SurveyInput, Texts};
use nasvyazi_surveys::results::{self, LANGUAGE, Results};
use nasvyazi_surveys::store::{self, StepRefused, Survey};
use nasvyazi_surveys::{example, responses};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::audited;
use super::campaign_link;
use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// The surveys admin API (the staff listener).
pub fn routes() -> crate::api::Api {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get_one))
        .routes(routes!(open))
        .routes(routes!(close))
        .routes(routes!(results_json))
        .routes(routes!(results_csv))
        .routes(routes!(texts))
        .routes(routes!(create_example))
        .routes(routes!(campaign_survey, set_campaign_survey))
}

/// A survey as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub id: Uuid,
    pub slug: String,
    /// The answering page.
    pub url: String,
    /// draft, open or closed.
    pub state: String,
    /// Whether answers are taken now (open, and within its times).
    pub accepting: bool,
    #[schema(value_type = Object)]
    pub title: Texts,
    #[schema(value_type = Object)]
    pub intro: Texts,
    pub questions: Vec<Question>,
    pub opens_at: Option<DateTime<Utc>>,
    pub closes_at: Option<DateTime<Utc>>,
    /// Only answers with an invitation are taken; otherwise the published
    /// counts are rounded to 5 (see the results).
    pub invited_only: bool,
    pub responses: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

async fn view(state: &AppState, s: Survey) -> Result<SurveyView, ApiError> {
    Ok(SurveyView {
        url: format!("{}/surveys/{}", state.infra.config.public_base(), s.slug),
        accepting: s.accepting(Utc::now()),
        responses: store::response_count(&state.infra.db, s.id).await?,
        id: s.id,
        slug: s.slug,
        state: s.state,
        title: s.title.0,
        intro: s.intro.0,
        questions: s.questions.0,
        opens_at: s.opens_at,
        closes_at: s.closes_at,
        invited_only: s.invited_only,
        created_at: s.created_at,
        updated_at: s.updated_at,
    })
}

async fn load(state: &AppState, id: Uuid) -> Result<Survey, ApiError> {
    store::load(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Creates a draft survey.
#[utoipa::path(post, path = "/api/v1/admin/surveys", tag = "surveys", security(("bearer" = [])),
    request_body = SurveyInput,
    responses((status = 201, body = SurveyView), (status = 401, body = E), (status = 403, body = E),
              (status = 409, body = E), (status = 422, body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<SurveyInput>,
) -> Result<(StatusCode, ApiJson<SurveyView>), ApiError> {
    let who = admin.require(ROLES)?;
    model::validate(&input).map_err(ApiError::validation)?;
    let id = audited::create(&state.infra.db, &state.keys, who, &input)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "exists",
                "another survey has this slug",
            )
        })?;
    let s = load(&state, id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, s).await?)))
}

/// Creates the built-in example "Access to OST in hospitals" (ru / kk /
/// en, slug `ost-access`) as a draft.
#[utoipa::path(post, path = "/api/v1/admin/surveys/examples/ost-access", tag = "surveys", security(("bearer" = [])),
    responses((status = 201, body = SurveyView), (status = 401, body = E), (status = 403, body = E), (status = 409, body = E)))]
pub async fn create_example(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<(StatusCode, ApiJson<SurveyView>), ApiError> {
    let who = admin.require(ROLES)?;
    let input = example::ost_access();
    let id = audited::create(&state.infra.db, &state.keys, who, &input)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                "exists",
                "a survey with the slug ost-access exists already",
            )
        })?;
    let s = load(&state, id).await?;
    Ok((StatusCode::CREATED, ApiJson(view(&state, s).await?)))
}

/// The survey a campaign invites to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSurveyView {
    pub campaign_id: Uuid,
    pub survey_id: Option<Uuid>,
    pub slug: Option<String>,
    /// Only contacts who have not answered yet get the messages.
    pub reminder: bool,
}

/// `PUT /api/v1/admin/campaigns/{id}/survey`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignSurveyInput {
    /// A survey's id or slug; `null` removes the invitation.
    pub survey: Option<String>,
    /// A reminder: sent to every invitee like the invitation (nothing
    /// records who answered; whoever did is told so if they answer again).
    #[serde(default)]
    pub reminder: bool,
}

async fn campaign_survey_view(state: &AppState, id: Uuid) -> Result<CampaignSurveyView, ApiError> {
    let link = campaign_link::campaign_survey(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(CampaignSurveyView {
        campaign_id: id,
        survey_id: link.as_ref().map(|l| l.0),
        slug: link.as_ref().map(|l| l.1.clone()),
        reminder: link.is_some_and(|l| l.2),
    })
}

/// Which survey a campaign invites to. Its messages can use
/// `{{ survey_url }}`: each recipient's own invitation link (the web page
/// by email, the bot's deep link on Telegram).
#[utoipa::path(get, path = "/api/v1/admin/campaigns/{id}/survey", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignSurveyView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn campaign_survey(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<CampaignSurveyView>, ApiError> {
    admin.require(ROLES)?;
    Ok(ApiJson(campaign_survey_view(&state, id).await?))
}

/// Makes a draft or paused campaign an invitation to a survey (or, with
/// `reminder`, a reminder that skips whoever already answered). Nothing
/// about who was invited or who answered is stored.
#[utoipa::path(put, path = "/api/v1/admin/campaigns/{id}/survey", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CampaignSurveyInput,
    responses((status = 200, body = CampaignSurveyView), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E), (status = 409, body = E), (status = 422, body = E)))]
pub async fn set_campaign_survey(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    ApiJson(input): ApiJson<CampaignSurveyInput>,
) -> Result<ApiJson<CampaignSurveyView>, ApiError> {
    let who = admin.require(ROLES)?;
    Ok(ApiJson(set_survey(&state, who, id, input).await?))
}

/// What `PUT /api/v1/admin/campaigns/{id}/survey` does, for the API and the
/// console alike: finds the survey (id or slug), links it (audited) and
/// returns the link as the API shows it.
pub async fn set_survey(
    state: &AppState,
    who: &nasvyazi_shared::auth::Principal,
    id: Uuid,
    input: CampaignSurveyInput,
) -> Result<CampaignSurveyView, ApiError> {
    let survey = match input.survey.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(
            store::find(&state.infra.db, s)
                .await?
                .ok_or_else(|| ApiError::validation("survey: no survey with this id or slug"))?
                .id,
        ),
    };
    if input.reminder && survey.is_none() {
        return Err(ApiError::validation("reminder: needs a survey"));
    }
    campaign_link::set_campaign_survey(&state.infra.db, who, id, survey, input.reminder)
        .await?
        .map_err(|r| match r {
            campaign_link::LinkRefused::NotFound => ApiError::not_found(),
            campaign_link::LinkRefused::State => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "only a draft or a paused campaign can be changed; pause it first",
            ),
        })?;
    campaign_survey_view(state, id).await
}

/// Lists surveys, newest first.
#[utoipa::path(get, path = "/api/v1/admin/surveys", tag = "surveys", security(("bearer" = [])),
    responses((status = 200, body = [SurveyView]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<SurveyView>>, ApiError> {
    admin.require(ROLES)?;
    let mut out = Vec::new();
    for s in store::list(&state.infra.db).await? {
        out.push(view(&state, s).await?);
    }
    Ok(ApiJson(out))
}

/// One survey.
#[utoipa::path(get, path = "/api/v1/admin/surveys/{id}", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SurveyView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<SurveyView>, ApiError> {
    admin.require(ROLES)?;
    let s = load(&state, id).await?;
    Ok(ApiJson(view(&state, s).await?))
}

async fn do_step(
    state: AppState,
    admin: Admin,
    id: Uuid,
    open: bool,
) -> Result<ApiJson<SurveyView>, ApiError> {
    let who = admin.require(ROLES)?;
    audited::step(&state.infra.db, who, id, open)
        .await?
        .map_err(|r| match r {
            StepRefused::NotFound => ApiError::not_found(),
            StepRefused::State => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                if open {
                    "only a draft or closed survey can be opened"
                } else {
                    "only an open survey can be closed"
                },
            ),
        })?;
    let s = load(&state, id).await?;
    Ok(ApiJson(view(&state, s).await?))
}

/// Opens a draft (or a closed) survey: its page takes answers.
#[utoipa::path(post, path = "/api/v1/admin/surveys/{id}/open", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SurveyView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn open(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<SurveyView>, ApiError> {
    do_step(state, admin, id, true).await
}

/// Closes an open survey: no more answers.
#[utoipa::path(post, path = "/api/v1/admin/surveys/{id}/close", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SurveyView), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 409, body = E)))]
pub async fn close(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<SurveyView>, ApiError> {
    do_step(state, admin, id, false).await
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ByQuery {
    /// Cross-tabulate every other question by this question's id, or by
    /// `language`.
    pub by: Option<String>,
}

async fn compute(state: &AppState, id: Uuid, by: Option<&str>) -> Result<Results, ApiError> {
    let s = load(state, id).await?;
    if let Some(by) = by {
        let ok = by == LANGUAGE
            || s.questions
                .iter()
                .any(|q| q.id == by && q.kind != model::Kind::Text);
        if !ok {
            return Err(ApiError::validation(
                "by: a question of this survey (not free text) or language",
            ));
        }
    }
    let values = responses::values(&state.infra.db, id).await?;
    Ok(results::compute(
        id,
        &s.questions,
        &values,
        by,
        results::Disclosure::of(s.invited_only),
    ))
}

/// Counts per question and, with `by`, cross tables; every count under 5
/// and every complement that would reveal one is `"<5"`.
#[utoipa::path(get, path = "/api/v1/admin/surveys/{id}/results", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path), ByQuery),
    responses((status = 200, body = Results), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 422, body = E)))]
pub async fn results_json(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Query(q): Query<ByQuery>,
) -> Result<ApiJson<Results>, ApiError> {
    admin.require(ROLES)?;
    Ok(ApiJson(compute(&state, id, q.by.as_deref()).await?))
}

/// The results as CSV (`question,option,by,by_value,count`).
#[utoipa::path(get, path = "/api/v1/admin/surveys/{id}/results.csv", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path), ByQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E), (status = 422, body = E)))]
pub async fn results_csv(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Query(q): Query<ByQuery>,
) -> Result<Response, ApiError> {
    admin.require(ROLES)?;
    let r = compute(&state, id, q.by.as_deref()).await?;
    let bytes = results::csv(&r)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"survey-{id}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// The free-text answers of one question.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SurveyTexts)]
pub struct QuestionTexts {
    pub question: String,
    pub texts: Vec<String>,
}

/// The free-text answers (organiser or admin; the read is audited).
#[utoipa::path(get, path = "/api/v1/admin/surveys/{id}/texts", tag = "surveys", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = [QuestionTexts]), (status = 401, body = E), (status = 403, body = E), (status = 404, body = E)))]
pub async fn texts(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Vec<QuestionTexts>>, ApiError> {
    let who = admin.require(ROLES)?;
    let s = load(&state, id).await?;
    let all = audited::texts(&state.infra.db, &state.keys, who, id).await?;
    let out = s
        .questions
        .iter()
        .filter(|q| q.kind == model::Kind::Text)
        .map(|q| QuestionTexts {
            question: q.id.clone(),
            texts: all
                .iter()
                .filter(|(qid, _)| *qid == q.id)
                .map(|(_, t)| t.clone())
                .collect(),
        })
        .collect();
    Ok(ApiJson(out))
}
