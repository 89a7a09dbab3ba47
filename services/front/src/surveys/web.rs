//! Answering a survey: `POST /api/v1/surveys/{slug}/answers` (JSON) and
//! the page `/surveys/{slug}` (one page with every question, no
//! JavaScript, CSRF and a honeypot as the other forms). Nothing about the
//! person is kept: no IP address, no contact, the day only; an invitation
//! token only as a keyed hash. Skip rules are applied on the server (the
//! page says under each question when to skip it); answers to a skipped
//! question are ignored (see `nasvyazi_surveys::answers`). Adapters only:
//! the checks and the storing are `nasvyazi_surveys`'s.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_surveys::answers::{Reason, Refs, Refusal, check_answers};
use nasvyazi_surveys::model::{self, Kind, text_in};
use nasvyazi_surveys::store::{self, Survey};
use nasvyazi_surveys::{responses, tokens};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::AppState;
use crate::pages::PostedForm;
use crate::pages::{csrf_token, field, internal_error, language, message, render};

/// `POST /api/v1/surveys/{slug}/answers`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersRequest {
    /// Question id -> the answer (a list for multiple choice).
    #[schema(value_type = Object)]
    pub answers: Map<String, Value>,
    /// A one-time invitation token: a second answer with it is refused.
    pub token: Option<String>,
    /// The language answered in (default: `Accept-Language`, else ru).
    pub language: Option<Lang>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SurveyAnswerAccepted)]
pub struct Accepted {
    pub status: &'static str,
}

/// Whether `t` is an invitation issued for `survey` ([`tokens::issued`]:
/// well formed, and checked against the survey's key before anything else).
fn issued(state: &AppState, survey: &Survey, t: &str) -> bool {
    tokens::issued(&state.keys, survey.id, t)
}

/// The open survey behind `slug`, if it takes answers now.
async fn accepting(state: &AppState, slug: &str) -> sqlx::Result<Option<Survey>> {
    Ok(store::by_slug(&state.infra.db, slug)
        .await?
        .filter(|s| s.accepting(Utc::now())))
}

/// The codes a region or site answer is checked against: the regions
/// with the custom places, and the active OST sites.
async fn refs(state: &AppState) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let regions = nasvyazi_supporters::regions::load(&state.infra.db)
        .await?
        .into_iter()
        .map(|r| r.code)
        .collect();
    let sites = crate::appeals::sites::active_refs(&state.infra.db)
        .await?
        .into_iter()
        .map(|s| s.code)
        .collect();
    Ok((regions, sites))
}

/// Answers an open survey (anonymous). Answers to questions a skip rule
/// skipped are ignored (not stored, not refused). Every answer needs a
/// proof of work in the `X-Proof-Of-Work` header (see `GET
/// /api/v1/challenge`), whatever the site's setting: 429 `proof_of_work`
/// without one. 403 if the invitation token was not issued for this survey
/// (forged, mistyped, another survey's) or the survey takes invited
/// answers only and none was given; 409 if it was already used; 404 for
/// an unknown, draft or closed survey.
#[utoipa::path(post, path = "/api/v1/surveys/{slug}/answers", tag = "surveys",
    params(("slug" = String, Path)), request_body = AnswersRequest,
    responses((status = 201, body = Accepted), (status = 403, body = nasvyazi_shared::error::ErrorBody),
              (status = 404, body = nasvyazi_shared::error::ErrorBody),
              (status = 409, body = nasvyazi_shared::error::ErrorBody), (status = 422, body = nasvyazi_shared::error::ErrorBody),
              (status = 429, body = nasvyazi_shared::error::ErrorBody)))]
pub async fn answer(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<AnswersRequest>,
) -> Result<(StatusCode, ApiJson<Accepted>), ApiError> {
    let survey = accepting(&state, &slug)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if let Some(t) = &req.token
        && !issued(&state, &survey, t)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_token",
            "token: this invitation was not issued for this survey",
        ));
    }
    if survey.invited_only && req.token.is_none() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invitation_required",
            "token: this survey takes answers by invitation only",
        ));
    }
    let (regions, sites) = refs(&state).await?;
    let refs = Refs {
        regions: &regions,
        sites: &sites,
    };
    let answers = check_answers(&survey.questions, &req.answers, &refs)
        .map_err(|r| ApiError::validation(r.message()))?;
    let lang = req.language.unwrap_or_else(|| language(None, &headers));
    let stored = responses::submit(
        &state.infra.db,
        &state.keys,
        survey.id,
        lang.code(),
        req.token.as_deref(),
        &answers,
    )
    .await?;
    if !stored {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "used",
            "this invitation has already been used to answer",
        ));
    }
    Ok((
        StatusCode::CREATED,
        ApiJson(Accepted { status: "received" }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub lang: Option<String>,
    /// The invitation (`?t=`, as campaign links carry it; `?token=` too).
    pub t: Option<String>,
    pub token: Option<String>,
}

impl PageQuery {
    fn invitation(&self) -> Option<&str> {
        self.t
            .as_deref()
            .or(self.token.as_deref())
            .filter(|t| !t.is_empty())
    }
}

#[derive(Serialize)]
struct OptionView {
    id: String,
    text: String,
}

#[derive(Serialize)]
struct QuestionView {
    id: String,
    name: String,
    number: usize,
    kind: &'static str,
    required: bool,
    text: String,
    options: Vec<OptionView>,
    /// What was posted (to show the form again after a mistake).
    values: Vec<String>,
    skip_hints: Vec<String>,
    error: bool,
}

/// What the form is shown again with.
#[derive(Default)]
struct Again<'a> {
    posted: &'a [(String, String)],
    token: Option<&'a str>,
    error: Option<&'a Refusal>,
}

fn field_name(id: &str) -> String {
    format!("q_{id}")
}

async fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    survey: &Survey,
    again: Again<'_>,
) -> Response {
    let Again {
        posted,
        token,
        error,
    } = again;
    let l = lang.code();
    let (csrf, set_cookie) = csrf_token(state, headers);
    let regions = nasvyazi_supporters::regions::load(&state.infra.db)
        .await
        .unwrap_or_default();
    let sites = crate::appeals::sites::list(&state.infra.db, false, None)
        .await
        .unwrap_or_default();
    let qs = &survey.questions.0;
    let hints = model::skipped_by(qs);
    let questions: Vec<QuestionView> = qs
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let options = match q.kind {
                Kind::Single | Kind::Multiple => q
                    .options
                    .iter()
                    .map(|o| OptionView {
                        id: o.id.clone(),
                        text: text_in(&o.text, l).to_string(),
                    })
                    .collect(),
                Kind::Scale => (1..=5)
                    .map(|n| OptionView {
                        id: n.to_string(),
                        text: n.to_string(),
                    })
                    .collect(),
                Kind::Region => regions
                    .iter()
                    .map(|r| OptionView {
                        id: r.code.clone(),
                        text: r.name.get(l).to_string(),
                    })
                    .collect(),
                Kind::Site => sites
                    .iter()
                    .map(|s| OptionView {
                        id: s.code.clone(),
                        text: s.name.get(l).to_string(),
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let skip_hints = hints[i]
                .iter()
                .map(|(n, qid, equals)| {
                    let answer = qs
                        .iter()
                        .find(|x| &x.id == qid)
                        .and_then(|x| x.options.iter().find(|o| &o.id == equals))
                        .map(|o| text_in(&o.text, l).to_string())
                        .unwrap_or_else(|| equals.clone());
                    i18n::fill(
                        &i18n::t(lang, "surveys.skip_hint"),
                        &[("n", &n.to_string()), ("answer", &answer)],
                    )
                })
                .collect();
            let name = field_name(&q.id);
            QuestionView {
                values: posted
                    .iter()
                    .filter(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
                    .collect(),
                id: q.id.clone(),
                name,
                number: i + 1,
                kind: q.kind.as_str(),
                required: q.required,
                text: text_in(&q.text, l).to_string(),
                options,
                skip_hints,
                error: error.is_some_and(|e| e.question == q.id),
            }
        })
        .collect();
    let error_text = error.map(|e| {
        let n = qs
            .iter()
            .position(|q| q.id == e.question)
            .map(|i| i + 1)
            .unwrap_or(0);
        let key = match e.reason {
            Reason::Required => "surveys.error_required",
            Reason::Invalid | Reason::Unknown => "surveys.error_invalid",
        };
        i18n::fill(&i18n::t(lang, key), &[("n", &n.to_string())])
    });
    render(
        state,
        lang,
        "survey.html",
        status,
        minijinja::context! {
            csrf,
            slug => &survey.slug,
            title => text_in(&survey.title, l),
            intro => text_in(&survey.intro, l),
            questions,
            token => token.filter(|t| tokens::well_formed(t)),
            error => error_text,
            // Every answer needs a proof of work (padding must cost).
            survey_pow => crate::limits::pow_always(state),
        },
        set_cookie,
    )
}

fn not_found(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::NOT_FOUND,
        "surveys.not_found_title",
        "surveys.not_found_body",
    )
}

/// An invitation link that was not issued for this survey.
fn invalid_link(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::FORBIDDEN,
        "surveys.invalid_link_title",
        "surveys.invalid_link_body",
    )
}

/// A survey that takes invited answers only, opened without an invitation.
fn invitation_required(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::FORBIDDEN,
        "surveys.invitation_required_title",
        "surveys.invitation_required_body",
    )
}

fn used(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::CONFLICT,
        "surveys.used_title",
        "surveys.used_body",
    )
}

fn thanks(state: &AppState, lang: Lang) -> Response {
    render(
        state,
        lang,
        "survey_thanks.html",
        StatusCode::OK,
        minijinja::context! {},
        None,
    )
}

/// `GET /surveys/{slug}`: the questionnaire.
pub async fn page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    match accepting(&state, &slug).await {
        Ok(Some(s)) => {
            // A link that was never issued is refused at once. Whether an
            // issued one was used is said only after a submission: the
            // page must not tell anyone holding a link (a phone's owner,
            // a screenshot's reader) that its invitee answered.
            if let Some(t) = q.invitation()
                && !issued(&state, &s, t)
            {
                return invalid_link(&state, lang);
            }
            if s.invited_only && q.invitation().is_none() {
                return invitation_required(&state, lang);
            }
            form_page(
                &state,
                &headers,
                lang,
                StatusCode::OK,
                &s,
                Again {
                    token: q.invitation(),
                    ..Default::default()
                },
            )
            .await
        }
        Ok(None) => not_found(&state, lang),
        Err(e) => internal_error(&state, lang, "survey page", &e),
    }
}

/// `POST /surveys/{slug}`: the answers from the form.
pub async fn submit(Path(slug): Path<String>, posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    let survey = match accepting(&state, &slug).await {
        Ok(Some(s)) => s,
        Ok(None) => return not_found(&state, lang),
        Err(e) => return internal_error(&state, lang, "survey answer", &e),
    };
    // A filled honeypot is a bot: thanks, nothing stored.
    if field(&form, "website").is_some_and(|v| !v.is_empty()) {
        return thanks(&state, lang);
    }
    let token = field(&form, "token").filter(|t| !t.is_empty());
    if token.is_some_and(|t| !issued(&state, &survey, t)) {
        return invalid_link(&state, lang);
    }
    if survey.invited_only && token.is_none() {
        return invitation_required(&state, lang);
    }
    let mut answers = Map::new();
    for question in survey.questions.iter() {
        let name = field_name(&question.id);
        let values: Vec<Value> = form
            .iter()
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| Value::String(v.clone()))
            .collect();
        let value = if question.kind == Kind::Multiple {
            Value::Array(values)
        } else {
            values.into_iter().next().unwrap_or(Value::Null)
        };
        answers.insert(question.id.clone(), value);
    }
    let (regions, sites) = match refs(&state).await {
        Ok(r) => r,
        Err(e) => return internal_error(&state, lang, "survey references", &e),
    };
    let refs = Refs {
        regions: &regions,
        sites: &sites,
    };
    let checked = match check_answers(&survey.questions, &answers, &refs) {
        Ok(a) => a,
        Err(refusal) => {
            return form_page(
                &state,
                &headers,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                &survey,
                Again {
                    posted: &form,
                    token,
                    error: Some(&refusal),
                },
            )
            .await;
        }
    };
    match responses::submit(
        &state.infra.db,
        &state.keys,
        survey.id,
        lang.code(),
        token,
        &checked,
    )
    .await
    {
        Ok(true) => thanks(&state, lang),
        Ok(false) => used(&state, lang),
        Err(e) => internal_error(&state, lang, "survey answer", &format!("{e:#}")),
    }
}
