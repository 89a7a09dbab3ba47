//! Appeals in the console (role caseworker or admin): the triage list with
//! filters, the case page (decrypted on open; the read is audited by
//! `appeals::staff::read`), internal notes, status changes, forwarding
//! (only with the appellant's consent), and the statistics with the CSV
//! export. Everything goes through `crate::appeals`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use nasvyazi_cases::appeals::stored::{CATEGORIES, STATUSES};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_supporters::regions::Region;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, notice, render, render_status, staff_problem};
use super::session::Session;
use super::words;
use crate::AppState;
use crate::appeals::model::{self, MAX_TEXT_CHARS};
use crate::appeals::sites;
use crate::appeals::staff::{self, ForwardRequest, StaffError};
use crate::appeals::stats::{self, StatsFilter};

const ROLES: &[Role] = &[Role::Caseworker];
const PAGE: i64 = 50;

/// Filters as the list's form sends them (empty = any).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    /// A case number to open directly.
    #[serde(default)]
    pub case: String,
    #[serde(default)]
    pub offset: i64,
}

fn known(list: &[&str], v: &str) -> Option<String> {
    list.contains(&v).then(|| v.to_string())
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

fn place_names(regions: &[Region], lang: &str, region: &str, city: &str) -> (String, String) {
    let r = regions.iter().find(|r| r.code == region);
    let region_name = r
        .map(|r| r.name.get(lang).to_string())
        .unwrap_or_else(|| region.to_string());
    let city_name = r
        .and_then(|r| r.cities.iter().find(|c| c.code == city))
        .map(|c| c.name.get(lang).to_string())
        .unwrap_or_else(|| city.to_string());
    (region_name, city_name)
}

/// `GET /admin/appeals`: newest first, filtered; no text, no contact.
pub async fn list(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let db = &state.infra.db;
    if !q.case.trim().is_empty() {
        let found = match model::canonical_case_number(&q.case) {
            Some(n) => staff::id_of(db, &n).await?,
            None => None,
        };
        if let Some(id) = found {
            return Ok(Redirect::to(&format!("/admin/appeals/{id}")).into_response());
        }
    }
    let filter = staff::Filter {
        status: known(STATUSES, &q.status),
        category: known(CATEGORIES, &q.category),
        region: Some(q.region.clone()).filter(|r| !r.is_empty()),
        site: None,
        from: date(&q.from),
        to: date(&q.to),
        limit: PAGE + 1,
        offset: q.offset.max(0),
    };
    let mut rows = staff::list(state.staff(&s.principal()), &filter).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let lang = s.user.lang.code();
    let tz = tz(&state);
    let items: Vec<_> = rows
        .iter()
        .map(|a| {
            let (region, city) = place_names(&regions, lang, &a.region, &a.city);
            minijinja::context! {
                id => a.id, case_number => &a.case_number, status => &a.status,
                category => &a.category, region, city, contact => &a.contact_channel,
                consent => a.consent_to_forward, repeat => a.same_contact_appeals,
                received => words::short(a.created_at, tz),
            }
        })
        .collect();
    let region_options: Vec<_> = regions
        .iter()
        .map(|r| minijinja::context! { code => &r.code, name => r.name.get(lang) })
        .collect();
    let not_found = !q.case.trim().is_empty();
    Ok(render(
        &state,
        &s,
        &uri,
        "appeals",
        "console/appeals.html",
        minijinja::context! {
            items, more, not_found,
            next_offset => q.offset.max(0) + PAGE,
            filter => minijinja::context! {
                status => &q.status, category => &q.category, region => &q.region,
                from => &q.from, to => &q.to,
            },
            statuses => STATUSES, categories => CATEGORIES, regions => region_options,
        },
    ))
}

fn tz(state: &AppState) -> chrono_tz::Tz {
    state
        .infra
        .config
        .campaigns
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Almaty)
}

#[derive(Deserialize)]
pub struct CaseQuery {
    pub done: Option<String>,
}

/// `GET /admin/appeals/{id}`: decrypts the appeal; the read is audited.
pub async fn case(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<CaseQuery>,
) -> PageResult {
    s.require(ROLES)?;
    case_page(
        &state,
        &s,
        &uri,
        id,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

async fn case_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    id: Uuid,
    status: StatusCode,
    notice: Option<String>,
    error: Option<&str>,
) -> PageResult {
    let a = staff::read(state.staff(&s.principal()), id)
        .await
        .map_err(staff_problem)?;
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let lang = s.user.lang.code();
    let (region, city) = place_names(&regions, lang, &a.item.region, &a.item.city);
    let site = match &a.item.site {
        Some(code) => sites::list(&state.infra.db, true, None)
            .await?
            .into_iter()
            .find(|x| &x.code == code)
            .map(|x| x.name.get(lang).to_string())
            .or_else(|| Some(code.clone())),
        None => None,
    };
    let tz = tz(state);
    let notes: Vec<_> = a
        .notes
        .iter()
        .map(|n| {
            minijinja::context! {
                kind => &n.kind, text => &n.text, at => words::short(n.created_at, tz),
                mine => n.author == s.principal().actor(),
            }
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "appeals",
        "console/appeal.html",
        status,
        minijinja::context! {
            notice, error,
            appeal => minijinja::context! {
                id => a.item.id, case_number => &a.item.case_number, status => &a.item.status,
                category => &a.item.category, region, city, site,
                consent => a.item.consent_to_forward, repeat => a.item.same_contact_appeals,
                received => words::short(a.item.created_at, tz),
                language => &a.language, text => &a.text,
                contact => a.contact.as_ref().map(|c| minijinja::context! { channel => &c.channel, value => &c.value }),
                forward => a.forward.as_ref().map(|f| minijinja::context! {
                    official => &f.official, note => &f.note,
                    at => f.forwarded_at.map(|t| words::short(t, tz)),
                }),
            },
            notes,
            statuses => STATUSES.iter().filter(|s| **s != "forwarded").collect::<Vec<_>>(),
            max_text => MAX_TEXT_CHARS,
        },
    ))
}

/// `POST /admin/appeals/{id}/note`.
pub async fn note(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let Some(text) = model::valid_text(form.raw("text")) else {
        return case_page(
            &state,
            &s,
            &uri,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("console.appeal.note_invalid"),
        )
        .await;
    };
    staff::add_note(state.staff(&s.principal()), id, &text)
        .await
        .map_err(staff_problem)?;
    Ok(done(&format!("/admin/appeals/{id}"), "note"))
}

/// `POST /admin/appeals/{id}/status`.
pub async fn status(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let to = STATUSES
        .iter()
        .find(|v| **v == form.get("status") && **v != "forwarded")
        .ok_or(Problem::NotFound)?;
    staff::set_status(state.staff(&s.principal()), id, to)
        .await
        .map_err(staff_problem)?;
    Ok(done(&format!("/admin/appeals/{id}"), "status"))
}

/// `POST /admin/appeals/{id}/forward`: only with the appellant's consent.
pub async fn forward(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let official = form.get("official");
    let note = form.get("note");
    if official.is_empty()
        || official.chars().count() > 500
        || note.chars().count() > MAX_TEXT_CHARS
    {
        return case_page(
            &state,
            &s,
            &uri,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("console.appeal.forward_invalid"),
        )
        .await;
    }
    let request = ForwardRequest {
        official: official.to_string(),
        note: (!note.is_empty()).then(|| note.to_string()),
    };
    match staff::forward(state.staff(&s.principal()), id, &request).await {
        Ok(()) => Ok(done(&format!("/admin/appeals/{id}"), "forwarded")),
        Err(StaffError::NoConsent) => {
            case_page(
                &state,
                &s,
                &uri,
                id,
                StatusCode::CONFLICT,
                None,
                Some("console.appeal.no_consent"),
            )
            .await
        }
        Err(e) => Err(staff_problem(e)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct StatsQuery {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub category: String,
}

async fn compute(
    state: &AppState,
    s: &Session,
    q: &StatsQuery,
    format: &str,
) -> Result<stats::Stats, Problem> {
    let filter = StatsFilter {
        from: date(&q.from),
        to: date(&q.to),
        region: Some(q.region.clone()).filter(|r| !r.is_empty()),
        category: known(CATEGORIES, &q.category),
    };
    let mut tx = state.infra.db.begin().await?;
    let out = stats::compute(
        &mut tx,
        &state.infra.config.campaigns.default_time_zone,
        &filter,
    )
    .await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "appeal.stats",
        None,
        serde_json::json!({ "format": format }),
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// `GET /admin/appeals/stats`: counts by month, region, category (under 5
/// shown as `<5`).
pub async fn stats(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<StatsQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let st = compute(&state, &s, &q, "html").await?;
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let lang = s.user.lang.code();
    let name_of = |code: &str| {
        regions
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name.get(lang).to_string())
            .unwrap_or_else(|| code.to_string())
    };
    let count = |c: &stats::Count| match c {
        stats::Count::Exact(n) => n.to_string(),
        stats::Count::Suppressed(s) => s.clone(),
    };
    let by_region: Vec<_> = st
        .by_region
        .iter()
        .map(|m| minijinja::context! { name => name_of(&m.key), count => count(&m.count) })
        .collect();
    let by_month: Vec<_> = st
        .by_month
        .iter()
        .map(|m| minijinja::context! { name => &m.key, count => count(&m.count) })
        .collect();
    let by_category: Vec<_> = st
        .by_category
        .iter()
        .map(|m| minijinja::context! { code => &m.key, count => count(&m.count) })
        .collect();
    let region_options: Vec<_> = regions
        .iter()
        .map(|r| minijinja::context! { code => &r.code, name => r.name.get(lang) })
        .collect();
    let query = uri.query().unwrap_or("").to_string();
    Ok(render(
        &state,
        &s,
        &uri,
        "appeals",
        "console/appeal_stats.html",
        minijinja::context! {
            total => count(&st.total), by_region, by_month, by_category,
            threshold => st.threshold, query,
            filter => minijinja::context! { from => &q.from, to => &q.to, region => &q.region, category => &q.category },
            categories => CATEGORIES, regions => region_options,
        },
    ))
}

/// `GET /admin/appeals/stats.csv`: the cross table.
pub async fn stats_csv(
    State(state): State<AppState>,
    s: Session,
    Query(q): Query<StatsQuery>,
) -> Result<Response, Problem> {
    s.require(ROLES)?;
    let st = compute(&state, &s, &q, "csv").await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"appeals-stats.csv\"",
            ),
        ],
        stats::to_csv(&st),
    )
        .into_response())
}
