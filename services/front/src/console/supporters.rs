//! Supporters in the console (role organiser or admin): counts (by
//! channel, status, language, topic, region) and a CSV export of those
//! counts, never an address; and, on a person's request, looking one
//! supporter up by their exact email address or Telegram chat id (blind
//! index) to unsubscribe
//! or erase them (`nasvyazi_supporters::subscriptions`). Every look-up and change is
//! audited; the typed address is never logged or put in a URL.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{self, Role};
use uuid::Uuid;

use super::account::DoneQuery;
use super::page::{Form, PageResult, Problem, done, notice, render_status};
use super::session::Session;
use super::words;
use crate::AppState;
use nasvyazi_supporters::subscriptions;

const ROLES: &[Role] = &[Role::Organiser];

/// What a look-up shows: the record's settings, not the address.
#[derive(serde::Serialize)]
struct Found {
    status: String,
    language: String,
    topics: Vec<String>,
    region: Option<String>,
    since: String,
}

async fn page_with(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    lookup: Option<minijinja::Value>,
) -> PageResult {
    let db = &state.infra.db;
    let by_status: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT channel, status, count(*) FROM contacts GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(db)
    .await?;
    let by_language: Vec<(String, i64)> = sqlx::query_as(
        "SELECT language, count(*) FROM contacts WHERE status = 'active' GROUP BY 1 ORDER BY 2 DESC",
    )
    .fetch_all(db)
    .await?;
    let by_topic: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(t, ''), count(*) FROM contacts c LEFT JOIN LATERAL unnest(c.topics) t ON true
         WHERE c.status = 'active' GROUP BY 1 ORDER BY 2 DESC",
    )
    .fetch_all(db)
    .await?;
    let by_region: Vec<(String, i64)> = sqlx::query_as(
        "SELECT coalesce(region, ''), count(*) FROM contacts WHERE status = 'active' GROUP BY 1 ORDER BY 2 DESC",
    )
    .fetch_all(db)
    .await?;
    let regions = nasvyazi_supporters::regions::load(&state.infra.db).await?;
    let lang = s.user.lang.code();
    let by_region: Vec<_> = by_region
        .into_iter()
        .map(|(code, n)| {
            let name = regions
                .iter()
                .find(|r| r.code == code)
                .map(|r| r.name.get(lang).to_string());
            minijinja::context! { code, name, n }
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "supporters",
        "console/supporters.html",
        status,
        minijinja::context! { notice, by_status, by_language, by_topic, by_region, lookup },
    ))
}

/// `GET /admin/supporters`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    page_with(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

/// `GET /admin/supporters/export.csv`: counts per (channel, status,
/// language, region, topics); no address, no id.
pub async fn export(State(state): State<AppState>, s: Session) -> Result<Response, Problem> {
    s.require(ROLES)?;
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT channel, status, language, coalesce(region, ''),
                array_to_string(ARRAY(SELECT unnest(topics) ORDER BY 1), ';'), count(*)
         FROM contacts GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
    )
    .fetch_all(&state.infra.db)
    .await?;
    let mut tx = state.infra.db.begin().await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "supporters.export",
        None,
        serde_json::json!({ "rows": rows.len() }),
    )
    .await?;
    tx.commit().await?;
    // Codes only ([a-z0-9_;]): nothing to quote.
    let mut csv = String::from("channel,status,language,region,topics,count\n");
    for (channel, status, language, region, topics, n) in rows {
        csv.push_str(&format!(
            "{channel},{status},{language},{region},{topics},{n}\n"
        ));
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"supporters-counts.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

type Row = (
    Uuid,
    String,
    String,
    Vec<String>,
    Option<String>,
    DateTime<Utc>,
);

/// `POST /admin/supporters/find`: one supporter by exact email address.
pub async fn find(State(state): State<AppState>, s: Session, uri: Uri, body: Bytes) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let Some(person) = subscriptions::Person::parse(form.get("email")) else {
        let lookup = minijinja::context! { invalid => true };
        return page_with(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(lookup),
        )
        .await;
    };
    let (channel, bi) = person.key(&state.keys);
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, status, language, topics, region, created_at FROM contacts
         WHERE channel = $1 AND blind_index = $2",
    )
    .bind(channel)
    .bind(&bi)
    .fetch_optional(&state.infra.db)
    .await?;
    let mut tx = state.infra.db.begin().await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "contact.lookup",
        row.as_ref().map(|r| r.0.to_string()).as_deref(),
        serde_json::json!({ "found": row.is_some() }),
    )
    .await?;
    tx.commit().await?;
    let tz = chrono_tz::Asia::Almaty;
    let found = row.map(|(_, status, language, topics, region, created)| Found {
        status,
        language,
        topics,
        region,
        since: words::short(created, tz),
    });
    let typed = match &person {
        subscriptions::Person::Email(e) => e.expose().to_string(),
        subscriptions::Person::Telegram(chat) => chat.to_string(),
    };
    let lookup = minijinja::context! { email => typed, found };
    page_with(&state, &s, &uri, StatusCode::OK, None, Some(lookup)).await
}

/// `POST /admin/supporters/act`: `action` = `unsubscribe` or `erase` for
/// the address looked up.
pub async fn act(State(state): State<AppState>, s: Session, body: Bytes) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let person = subscriptions::Person::parse(form.get("email")).ok_or(Problem::NotFound)?;
    let actor = s.principal().actor();
    let (gone, notice) = match form.get("action") {
        "erase" if form.get("confirm") == "yes" => (
            subscriptions::erase_person(&state.infra.db, &state.keys, &person, &actor).await?,
            "erased",
        ),
        "unsubscribe" => (
            subscriptions::unsubscribe_person(&state.infra.db, &state.keys, &person, &actor)
                .await?,
            "unsubscribed",
        ),
        _ => return Ok(axum::response::Redirect::to("/admin/supporters").into_response()),
    };
    if gone.is_none() {
        return Err(Problem::NotFound);
    }
    Ok(done("/admin/supporters", notice))
}
