//! The channels and groups campaigns post to, in the console (organisers,
//! admins): `/admin/channels` lists the registry, registers one (`@name`
//! or id, title, language) through [`crate::channels::register`], and
//! with `?check=<id>` shows what Telegram says the bot may do there (post?
//! pin?) through [`crate::channels::check_channel`].

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::ApiError;
use serde::Deserialize;
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, render_status};
use super::session::Session;
use crate::AppState;
use crate::channels::{self, NewChannel};

const ROLES: &[Role] = &[Role::Organiser];

#[derive(Deserialize)]
pub struct ChannelsQuery {
    pub done: Option<String>,
    pub check: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    chat: String,
    title: String,
    language: String,
    created_at: DateTime<Utc>,
}

/// `GET /admin/channels[?check=<id>]`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<ChannelsQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let notice = q
        .done
        .as_deref()
        .filter(|d| *d == "registered")
        .map(|d| format!("console.chats.done.{d}"));
    let check = match q.check.as_deref() {
        None | Some("") => None,
        Some(id) => Some(id.parse::<Uuid>().map_err(|_| Problem::NotFound)?),
    };
    list_page(&state, &s, &uri, StatusCode::OK, notice, None, check, None).await
}

#[allow(clippy::too_many_arguments)]
async fn list_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    error: Option<(String, Option<String>)>,
    check: Option<Uuid>,
    typed: Option<(String, String, String)>,
) -> PageResult {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, chat, title, language, created_at FROM telegram_channels ORDER BY title, id",
    )
    .fetch_all(&state.infra.db)
    .await?;
    if let Some(id) = check
        && !rows.iter().any(|r| r.id == id)
    {
        return Err(Problem::NotFound);
    }
    // Asked only for the one channel the person asked about.
    let checked = match check {
        Some(id) => Some(match channels::check_channel(state, id).await {
            Ok(c) => minijinja::context! {
                status => c.status, chat_type => c.chat_type, can_post => c.can_post,
                can_pin => c.can_pin, can_edit => c.can_edit, reason => c.reason,
            },
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => minijinja::context! {
                status => "unavailable", reason => e.message,
            },
            Err(e) if e.status == StatusCode::NOT_FOUND => return Err(Problem::NotFound),
            Err(e) => {
                return Err(Problem::Internal(anyhow::anyhow!(
                    "channel check: {}",
                    e.message
                )));
            }
        }),
        None => None,
    };
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            minijinja::context! {
                id => r.id, chat => &r.chat, title => &r.title, language => &r.language,
                link => r.chat.strip_prefix('@').map(|n| format!("https://t.me/{n}")),
                since => r.created_at.format("%Y-%m-%d").to_string(),
                check => (check == Some(r.id)).then(|| checked.clone()).flatten(),
            }
        })
        .collect();
    let (error, error_detail) = match error {
        Some((k, d)) => (Some(k), d),
        None => (None, None),
    };
    let (chat, title, language) = typed.unwrap_or_default();
    Ok(render_status(
        state,
        s,
        uri,
        "channels",
        "console/chats.html",
        status,
        minijinja::context! {
            channels => list, notice, error, error_detail,
            has_telegram => state.telegram.is_some(),
            typed => minijinja::context! { chat, title, language },
        },
    ))
}

/// `POST /admin/channels`: registers a channel or group.
pub async fn register(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let input = NewChannel {
        chat: serde_json::Value::String(form.get("chat").to_string()),
        title: form.get("title").to_string(),
        language: form.get("language").to_string(),
    };
    match channels::register(&state, &s.principal(), input).await {
        Ok(_) => Ok(done("/admin/channels", "registered")),
        Err(e) => {
            let key = match e.status {
                StatusCode::CONFLICT => "console.chats.exists",
                StatusCode::UNPROCESSABLE_ENTITY => "console.chats.invalid",
                _ => return Err(api_problem(e)),
            };
            let detail = (e.status == StatusCode::UNPROCESSABLE_ENTITY).then_some(e.message);
            let typed = (
                form.get("chat").to_string(),
                form.get("title").to_string(),
                form.get("language").to_string(),
            );
            list_page(
                &state,
                &s,
                &uri,
                e.status,
                None,
                Some((key.into(), detail)),
                None,
                Some(typed),
            )
            .await
        }
    }
}

fn api_problem(e: ApiError) -> Problem {
    match e.status {
        StatusCode::NOT_FOUND => Problem::NotFound,
        StatusCode::FORBIDDEN => Problem::Forbidden,
        _ => Problem::Internal(anyhow::anyhow!("channels: {}", e.message)),
    }
}
