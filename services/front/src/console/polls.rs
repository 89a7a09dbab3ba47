//! `/admin/polls`: the native Telegram polls sent to registered channels,
//! with their counts as bars (server-side SVG, no script), a form to send
//! a new one and a button to stop one. The same domain functions as the
//! admin API ([`crate::polls`]); organisers and admins.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::ApiError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, render_status};
use super::session::Session;
use crate::AppState;
use crate::polls::{self, NewPoll};

const ROLES: &[Role] = &[Role::Organiser];

#[derive(Deserialize)]
pub struct PollsQuery {
    pub done: Option<String>,
}

#[derive(Serialize)]
struct Bar {
    text: String,
    count: i64,
    percent: f64,
    /// The bar's width in the SVG's 0-100 coordinates.
    width: f64,
}

#[derive(Serialize)]
struct PollView {
    id: Uuid,
    question: String,
    chat: String,
    total: i64,
    closed: bool,
    multiple: bool,
    created: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct ChannelView {
    id: Uuid,
    title: String,
    chat: String,
}

/// The notice a redirect may show.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done {
        Some("sent") => Some("polls.console.sent"),
        Some("stopped") => Some("polls.console.stopped"),
        _ => None,
    }
}

async fn page_with(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
) -> PageResult {
    let polls: Vec<PollView> = polls::list_all(&state.infra.db)
        .await?
        .into_iter()
        .map(|p| PollView {
            id: p.id,
            question: p.question,
            chat: p.chat,
            total: p.total_voter_count,
            closed: p.closed,
            multiple: p.allows_multiple_answers,
            created: p.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            bars: p
                .options
                .into_iter()
                .map(|o| Bar {
                    width: o.percent.clamp(0.0, 100.0),
                    text: o.text,
                    count: o.voter_count,
                    percent: o.percent,
                })
                .collect(),
        })
        .collect();
    let channels: Vec<ChannelView> = sqlx::query_as::<_, (Uuid, String, String)>(
        "SELECT id, title, chat FROM telegram_channels ORDER BY title, id",
    )
    .fetch_all(&state.infra.db)
    .await?
    .into_iter()
    .map(|(id, title, chat)| ChannelView { id, title, chat })
    .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "surveys",
        "console/polls.html",
        status,
        minijinja::context! { polls, channels, notice, error, has_bot => state.telegram.is_some() },
    ))
}

/// `GET /admin/polls`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<PollsQuery>,
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

/// The message of a refusal the page shows (ours or Telegram's words).
fn refusal(e: &ApiError) -> String {
    e.message.clone()
}

/// `POST /admin/polls`: sends a poll now (options one per line).
pub async fn create(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let channel = form.get("channel").parse::<Uuid>().ok();
    let options: Vec<String> = form
        .raw("options")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let Some(channel) = channel else {
        return page_with(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("channel: choose a registered channel".into()),
        )
        .await;
    };
    let input = NewPoll {
        channel,
        question: form.raw("question").to_string(),
        options,
        allows_multiple_answers: form.get("multiple") == "1",
    };
    match polls::send(&state, &s.principal(), &input).await {
        Ok(_) => Ok(done("/admin/polls", "sent")),
        Err(e) => {
            let status = e.status;
            if status == StatusCode::INTERNAL_SERVER_ERROR {
                return Err(Problem::Internal(anyhow::anyhow!("sending a poll failed")));
            }
            page_with(&state, &s, &uri, status, None, Some(refusal(&e))).await
        }
    }
}

/// `POST /admin/polls/{id}/stop`.
pub async fn stop(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    match polls::stop_poll(&state, &s.principal(), id).await {
        Ok(_) => Ok(done("/admin/polls", "stopped")),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(Problem::NotFound),
        Err(e) if e.status == StatusCode::INTERNAL_SERVER_ERROR => {
            Err(Problem::Internal(anyhow::anyhow!("stopping a poll failed")))
        }
        Err(e) => {
            let status = e.status;
            page_with(&state, &s, &uri, status, None, Some(refusal(&e))).await
        }
    }
}
