//! Surveys in the console (organisers and admins): the list with open /
//! close buttons, the built-in example created with one click, the results
//! page (counts, percentages, bar charts drawn as SVG on the server, a
//! cross table by one dimension, suppressed cells shown as "<5"), the same
//! as a printable A4 page without navigation (for a letter or a report),
//! the CSV, and the free-text answers (a separate page: every read is
//! audited). Everything goes through `nasvyazi_surveys` (and the audited
//! changes of `crate::surveys::audited`), as the admin API does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use nasvyazi_shared::auth::{Principal, Role};
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_surveys::model::{Kind, Question, text_in};
use nasvyazi_surveys::results::{self, LANGUAGE, Results};
use nasvyazi_surveys::store::{self, Survey};
use nasvyazi_surveys::svg::{self, Bar};
use nasvyazi_surveys::{example, model, responses};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, render, render_bare};
use super::session::Session;
use crate::AppState;
use crate::surveys::audited;

const ROLES: &[Role] = &[Role::Organiser];
const SECTION: &str = "surveys";

/// The console's survey pages (added to the console's router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/surveys", get(list))
        .route("/admin/surveys/new", get(new_form).post(create_example))
        .route("/admin/surveys/{id}/open", post(open))
        .route("/admin/surveys/{id}/close", post(close))
        .route("/admin/surveys/{id}/results", get(results_page))
        .route("/admin/surveys/{id}/results.csv", get(results_csv))
        .route("/admin/surveys/{id}/print", get(print_page))
        .route("/admin/surveys/{id}/texts", get(texts_page))
        .route("/static/survey-print.css", get(print_css))
}

/// The templates of these pages.
pub fn add_templates(env: &mut minijinja::Environment<'static>) {
    for (name, src) in [
        (
            "console/surveys.html",
            include_str!("../../templates/console/surveys.html"),
        ),
        (
            "console/survey_new.html",
            include_str!("../../templates/console/survey_new.html"),
        ),
        (
            "console/survey_results.html",
            include_str!("../../templates/console/survey_results.html"),
        ),
        (
            "console/survey_print.html",
            include_str!("../../templates/console/survey_print.html"),
        ),
        (
            "console/survey_texts.html",
            include_str!("../../templates/console/survey_texts.html"),
        ),
        (
            "console/survey_charts.html",
            include_str!("../../templates/console/survey_charts.html"),
        ),
    ] {
        env.add_template(name, src)
            .expect("survey console template parses");
    }
}

/// Who may read results: a console session, or (for the printable page
/// and the CSV) an admin API token, role organiser or admin.
pub struct Staff {
    pub principal: Principal,
    pub lang: Lang,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let admin = crate::auth::Admin::from_request_parts(parts, state)
                .await
                .map_err(|_| Problem::Forbidden)?;
            let principal = admin
                .require(ROLES)
                .map_err(|_| Problem::Forbidden)?
                .clone();
            let q = parts.uri.query().unwrap_or("");
            let lang = form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .map(|(_, v)| v.into_owned());
            let lang = crate::pages::language(lang.as_deref(), &parts.headers);
            return Ok(Staff { principal, lang });
        }
        let s = Session::from_request_parts(parts, state).await?;
        s.require(ROLES)?;
        Ok(Staff {
            principal: s.principal(),
            lang: s.user.lang,
        })
    }
}

fn notice_of(done: Option<&str>) -> Option<String> {
    let key = match done? {
        "created" => "surveys.console.done_created",
        "opened" => "surveys.console.done_opened",
        "closed" => "surveys.console.done_closed",
        _ => return None,
    };
    Some(key.to_string())
}

#[derive(Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

#[derive(Serialize)]
struct Row {
    id: Uuid,
    slug: String,
    title: String,
    state: String,
    accepting: bool,
    responses: i64,
    url: String,
}

/// `GET /admin/surveys`.
pub async fn list(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let l = s.user.lang.code();
    let now = Utc::now();
    let mut rows = Vec::new();
    for v in store::list(&state.infra.db).await? {
        rows.push(Row {
            responses: store::response_count(&state.infra.db, v.id).await?,
            accepting: v.accepting(now),
            url: format!("{}/surveys/{}", state.infra.config.public_base(), v.slug),
            title: text_in(&v.title, l).to_string(),
            id: v.id,
            slug: v.slug,
            state: v.state,
        });
    }
    Ok(render(
        &state,
        &s,
        &uri,
        SECTION,
        "console/surveys.html",
        minijinja::context! { surveys => rows, notice => notice_of(q.done.as_deref()) },
    ))
}

/// `GET /admin/surveys/new`: the built-in example (and how to build others
/// through the admin API).
pub async fn new_form(State(state): State<AppState>, s: Session, uri: Uri) -> PageResult {
    s.require(ROLES)?;
    let l = s.user.lang.code();
    let ex = example::ost_access();
    let exists = store::by_slug(&state.infra.db, example::SLUG)
        .await?
        .map(|v| v.id);
    let questions: Vec<String> = ex
        .questions
        .iter()
        .map(|q| text_in(&q.text, l).to_string())
        .collect();
    Ok(render(
        &state,
        &s,
        &uri,
        SECTION,
        "console/survey_new.html",
        minijinja::context! {
            title => text_in(&ex.title, l),
            intro => text_in(&ex.intro, l),
            questions,
            exists,
        },
    ))
}

/// `POST /admin/surveys/new`: creates the example as a draft.
pub async fn create_example(State(state): State<AppState>, s: Session, body: Bytes) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    let created = audited::create(
        &state.infra.db,
        &state.keys,
        &s.principal(),
        &example::ost_access(),
    )
    .await?;
    match created {
        Some(_) => Ok(done("/admin/surveys", "created")),
        // Already there (a second click): to the list, nothing changed.
        None => Ok(axum::response::Redirect::to("/admin/surveys").into_response()),
    }
}

async fn step(state: AppState, s: Session, id: Uuid, body: Bytes, open: bool) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    match audited::step(&state.infra.db, &s.principal(), id, open).await? {
        Ok(()) => Ok(done(
            "/admin/surveys",
            if open { "opened" } else { "closed" },
        )),
        Err(store::StepRefused::NotFound) => Err(Problem::NotFound),
        // Already open (or closed): the list shows how it stands.
        Err(store::StepRefused::State) => {
            Ok(axum::response::Redirect::to("/admin/surveys").into_response())
        }
    }
}

/// `POST /admin/surveys/{id}/open`.
pub async fn open(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    step(state, s, id, body, true).await
}

/// `POST /admin/surveys/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    step(state, s, id, body, false).await
}

#[derive(Deserialize)]
pub struct ByQuery {
    pub by: Option<String>,
}

/// The survey and its results by `by` (ignored unless a dimension).
async fn load_results(
    state: &AppState,
    id: Uuid,
    by: Option<&str>,
) -> Result<(Survey, Results, Option<String>), Problem> {
    let survey = store::load(&state.infra.db, id)
        .await?
        .ok_or(Problem::NotFound)?;
    let by = by.filter(|b| {
        *b == LANGUAGE
            || survey
                .questions
                .iter()
                .any(|q| q.id == *b && q.kind != Kind::Text)
    });
    let values = responses::values(&state.infra.db, id).await?;
    let r = results::compute(
        id,
        &survey.questions,
        &values,
        by,
        results::Disclosure::of(survey.invited_only),
    );
    Ok((survey, r, by.map(String::from)))
}

/// Names of a dimension's categories in `lang`.
struct Labels {
    regions: Vec<nasvyazi_supporters::regions::Region>,
    sites: Vec<(String, String)>,
}

impl Labels {
    async fn load(state: &AppState, lang: Lang) -> Labels {
        let regions = nasvyazi_supporters::regions::load(&state.infra.db)
            .await
            .unwrap_or_default();
        let sites = crate::appeals::sites::list(&state.infra.db, true, None)
            .await
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.code.clone(), s.name.get(lang.code()).to_string()))
            .collect();
        Labels { regions, sites }
    }

    fn of(&self, q: Option<&Question>, value: &str, lang: Lang) -> String {
        let l = lang.code();
        match q.map(|q| q.kind) {
            None => i18n::t(lang, &format!("lang.{value}")),
            Some(Kind::Single | Kind::Multiple) => q
                .and_then(|q| q.options.iter().find(|o| o.id == value))
                .map(|o| text_in(&o.text, l).to_string())
                .unwrap_or_else(|| value.to_string()),
            Some(Kind::Region) => self
                .regions
                .iter()
                .find(|r| r.code == value)
                .map(|r| r.name.get(l).to_string())
                .unwrap_or_else(|| value.to_string()),
            Some(Kind::Site) => self
                .sites
                .iter()
                .find(|(c, _)| c == value)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| value.to_string()),
            Some(_) => value.to_string(),
        }
    }
}

/// A count as JSON: the number, or `None` when suppressed.
fn number(v: &Value) -> Option<i64> {
    v.as_i64()
}

fn shown(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

#[derive(Serialize)]
struct OptionRow {
    label: String,
    count: String,
    percent: String,
}

#[derive(Serialize)]
struct QuestionBlock {
    number: usize,
    text: String,
    answered: String,
    kind: &'static str,
    chart: minijinja::Value,
    rows: Vec<OptionRow>,
}

#[derive(Serialize)]
struct CrossRow {
    label: String,
    cells: Vec<String>,
    total: String,
}

#[derive(Serialize)]
struct CrossBlock {
    number: usize,
    text: String,
    columns: Vec<String>,
    rows: Vec<CrossRow>,
    column_totals: Vec<String>,
    total: String,
}

/// What the results and the print page show.
async fn view(
    state: &AppState,
    lang: Lang,
    survey: &Survey,
    r: &Results,
    by: Option<&str>,
) -> minijinja::Value {
    let l = lang.code();
    let labels = Labels::load(state, lang).await;
    let qs = &survey.questions.0;
    let number_of = |id: &str| qs.iter().position(|q| q.id == id).map_or(0, |i| i + 1);
    let question = |id: &str| qs.iter().find(|q| q.id == id);
    let mut blocks = Vec::new();
    for qc in &r.questions {
        let q = question(&qc.id);
        let answered = serde_json::to_value(&qc.answered).unwrap_or(Value::Null);
        let total = number(&answered).filter(|n| *n > 0);
        let mut bars = Vec::new();
        let mut rows = Vec::new();
        for o in &qc.options {
            let v = &qc.counts[o];
            let n = number(v);
            let percent = n.zip(total).map(|(n, t)| n as f64 * 100.0 / t as f64);
            let label = labels.of(q, o, lang);
            rows.push(OptionRow {
                label: label.clone(),
                count: shown(v),
                percent: percent.map(svg::percent).unwrap_or_default(),
            });
            bars.push(Bar {
                label,
                count: n,
                percent,
            });
        }
        let text = q
            .map(|q| text_in(&q.text, l).to_string())
            .unwrap_or_default();
        blocks.push(QuestionBlock {
            number: number_of(&qc.id),
            chart: minijinja::Value::from_safe_string(svg::bars(&text, &bars)),
            text,
            answered: shown(&answered),
            kind: q.map_or("", |q| q.kind.as_str()),
            rows,
        });
    }
    let by_q = by.and_then(question);
    let mut cross = Vec::new();
    for t in &r.crosstabs {
        let q = question(&t.question);
        cross.push(CrossBlock {
            number: number_of(&t.question),
            text: q
                .map(|q| text_in(&q.text, l).to_string())
                .unwrap_or_default(),
            columns: t.columns.iter().map(|c| labels.of(by_q, c, lang)).collect(),
            rows: t
                .rows
                .iter()
                .map(|row| CrossRow {
                    label: labels.of(q, row, lang),
                    cells: t.columns.iter().map(|c| shown(&t.cells[row][c])).collect(),
                    total: shown(&t.row_totals[row]),
                })
                .collect(),
            column_totals: t
                .columns
                .iter()
                .map(|c| shown(&t.column_totals[c]))
                .collect(),
            total: shown(&serde_json::to_value(&t.total).unwrap_or(Value::Null)),
        });
    }
    // The dimensions a cross table can use.
    let mut dims = vec![(
        LANGUAGE.to_string(),
        i18n::t(lang, "surveys.console.by_language"),
    )];
    for (i, q) in qs.iter().enumerate() {
        if q.kind != Kind::Text {
            dims.push((q.id.clone(), format!("{}. {}", i + 1, text_in(&q.text, l))));
        }
    }
    let by_name = by.and_then(|b| dims.iter().find(|(id, _)| id == b).map(|(_, n)| n.clone()));
    let has_texts = qs.iter().any(|q| q.kind == Kind::Text);
    minijinja::context! {
        id => survey.id,
        slug => &survey.slug,
        title => text_in(&survey.title, l),
        state => &survey.state,
        responses => shown(&serde_json::to_value(&r.responses).unwrap_or(Value::Null)),
        threshold => r.threshold,
        questions => blocks,
        crosstabs => cross,
        by => by,
        by_name,
        dims => dims.into_iter().map(|(id, name)| minijinja::context! { id, name }).collect::<Vec<_>>(),
        has_texts,
        today => Utc::now().date_naive().format("%Y-%m-%d").to_string(),
        public_url => format!("{}/surveys/{}", state.infra.config.public_base(), survey.slug),
    }
}

/// `GET /admin/surveys/{id}/results[?by=]`.
pub async fn results_page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<ByQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let (survey, r, by) = load_results(&state, id, q.by.as_deref()).await?;
    let ctx = view(&state, s.user.lang, &survey, &r, by.as_deref()).await;
    Ok(render(
        &state,
        &s,
        &uri,
        SECTION,
        "console/survey_results.html",
        ctx,
    ))
}

/// `GET /admin/surveys/{id}/print[?by=]`: A4, no navigation, no script.
pub async fn print_page(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Query(q): Query<ByQuery>,
) -> PageResult {
    let (survey, r, by) = load_results(&state, id, q.by.as_deref()).await?;
    let ctx = view(&state, staff.lang, &survey, &r, by.as_deref()).await;
    Ok(render_bare(
        &state,
        staff.lang,
        "console/survey_print.html",
        StatusCode::OK,
        ctx,
    ))
}

/// `GET /admin/surveys/{id}/results.csv[?by=]`.
pub async fn results_csv(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<Uuid>,
    Query(q): Query<ByQuery>,
) -> PageResult {
    let (_, r, _) = load_results(&state, id, q.by.as_deref()).await?;
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

#[derive(Serialize)]
struct TextsBlock {
    number: usize,
    text: String,
    answers: Vec<String>,
}

/// `GET /admin/surveys/{id}/texts`: the free-text answers (the read is
/// audited, as through the admin API).
pub async fn texts_page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
) -> PageResult {
    s.require(ROLES)?;
    let survey = store::load(&state.infra.db, id)
        .await?
        .ok_or(Problem::NotFound)?;
    let all = audited::texts(&state.infra.db, &state.keys, &s.principal(), id).await?;
    let l = s.user.lang.code();
    let blocks: Vec<TextsBlock> = survey
        .questions
        .iter()
        .enumerate()
        .filter(|(_, q)| q.kind == model::Kind::Text)
        .map(|(i, q)| TextsBlock {
            number: i + 1,
            text: text_in(&q.text, l).to_string(),
            answers: all
                .iter()
                .filter(|(qid, _)| *qid == q.id)
                .map(|(_, t)| t.clone())
                .collect(),
        })
        .collect();
    Ok(render(
        &state,
        &s,
        &uri,
        SECTION,
        "console/survey_texts.html",
        minijinja::context! {
            id => survey.id,
            title => text_in(&survey.title, l),
            blocks,
        },
    ))
}

async fn print_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/survey-print.css"),
    )
        .into_response()
}
