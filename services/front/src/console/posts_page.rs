//! A campaign's channel posts in the console (organisers, admins): the
//! "Posts" section of the campaign's page lists them with their t.me links
//! ([`section`]); a post's own page edits its text, pins or unpins it, and
//! deletes it after a confirmation page. Every change goes through
//! [`crate::posts`], as the admin API's do; Telegram's refusals are shown
//! on the post's page in its words.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use chrono_tz::Tz;
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::ApiError;
use nasvyazi_shared::i18n::Lang;
use serde::Serialize;
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, render_status};
use super::session::Session;
use super::words;
use crate::AppState;
use crate::posts::{self, Change, MAX_CAPTION_CHARS, Post};

const ROLES: &[Role] = &[Role::Organiser];

/// A post as the pages show it.
#[derive(Serialize)]
pub struct PostView {
    id: Uuid,
    chat: String,
    title: Option<String>,
    link: Option<String>,
    kind: String,
    state: String,
    pinned: bool,
    messages: usize,
    caption: bool,
    max_chars: usize,
    posted: String,
    edited: Option<String>,
}

fn view(p: &Post, lang: Lang, tz: Tz) -> PostView {
    PostView {
        id: p.id,
        chat: p.chat.clone(),
        title: p.channel_title.clone(),
        link: p.link.clone(),
        kind: p.kind.clone(),
        state: p.state.clone(),
        pinned: p.pinned,
        messages: p.message_ids.len(),
        caption: p.text_is_caption,
        max_chars: if p.text_is_caption {
            MAX_CAPTION_CHARS
        } else {
            nasvyazi_shared::telegram::text::MAX_MESSAGE_CHARS
        },
        posted: words::datetime(lang, p.posted_at, tz),
        edited: p.edited_at.map(|t| words::datetime(lang, t, tz)),
    }
}

/// The campaign page's "Posts" section: every post, newest first.
pub async fn section(
    state: &AppState,
    campaign: Uuid,
    lang: Lang,
    tz: Tz,
) -> Result<Vec<PostView>, Problem> {
    Ok(posts::posts_of(&state.infra.db, campaign)
        .await?
        .iter()
        .map(|p| view(p, lang, tz))
        .collect())
}

/// The campaign's name and time zone; 404 for an unknown campaign.
async fn campaign_of(state: &AppState, id: Uuid) -> Result<(String, Tz), Problem> {
    let c = super::campaigns::load(state, id).await?;
    let tz = super::campaigns::tz_of(&c);
    Ok((c.name, tz))
}

/// A post's page (also after a refusal, with its reason).
#[allow(clippy::too_many_arguments)]
async fn post_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    (campaign, id): (Uuid, Uuid),
    template: &str,
    status: StatusCode,
    error: Option<(String, Option<String>)>,
    typed: Option<&str>,
) -> PageResult {
    let (name, tz) = campaign_of(state, campaign).await?;
    let post = posts::post_of(&state.infra.db, campaign, id)
        .await?
        .ok_or(Problem::NotFound)?;
    let (error, error_detail) = match error {
        Some((k, d)) => (Some(k), d),
        None => (None, None),
    };
    Ok(render_status(
        state,
        s,
        uri,
        "campaigns",
        template,
        status,
        minijinja::context! {
            campaign => minijinja::context! { id => campaign, name },
            post => view(&post, s.user.lang, tz),
            typed, error, error_detail,
        },
    ))
}

/// `GET /admin/campaigns/{id}/posts/{post}`.
pub async fn one(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
) -> PageResult {
    s.require(ROLES)?;
    post_page(
        &state,
        &s,
        &uri,
        ids,
        "console/campaign_post.html",
        StatusCode::OK,
        None,
        None,
    )
    .await
}

/// `GET /admin/campaigns/{id}/posts/{post}/delete`: are you sure?
pub async fn confirm_delete(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
) -> PageResult {
    s.require(ROLES)?;
    post_page(
        &state,
        &s,
        &uri,
        ids,
        "console/campaign_post_delete.html",
        StatusCode::OK,
        None,
        None,
    )
    .await
}

/// A refusal from [`crate::posts`] as the post's page again, with the
/// reason; a missing post or campaign and an internal failure as problems.
async fn refused(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    ids: (Uuid, Uuid),
    e: ApiError,
    typed: Option<&str>,
) -> PageResult {
    let key = match (e.status, e.code) {
        (StatusCode::NOT_FOUND, _) => return Err(Problem::NotFound),
        (StatusCode::FORBIDDEN, _) => return Err(Problem::Forbidden),
        (_, "deleted") => "console.posts.already_deleted",
        (_, "telegram_refused") => "console.posts.refused",
        (StatusCode::UNPROCESSABLE_ENTITY, _) => "console.posts.invalid",
        (StatusCode::SERVICE_UNAVAILABLE, _) => "console.posts.unavailable",
        _ => {
            return Err(Problem::Internal(anyhow::anyhow!(
                "post change: {}",
                e.message
            )));
        }
    };
    let detail = (e.code != "deleted").then_some(e.message);
    post_page(
        state,
        s,
        uri,
        ids,
        "console/campaign_post.html",
        e.status,
        Some((key.into(), detail)),
        typed,
    )
    .await
}

fn back(campaign: Uuid) -> String {
    format!("/admin/campaigns/{campaign}")
}

/// `POST /admin/campaigns/{id}/posts/{post}/edit` (text).
pub async fn edit(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let text = form.raw("text").replace("\r\n", "\n");
    match posts::change_text(&state, &s.principal(), ids.0, ids.1, text.trim()).await {
        Ok(_) => Ok(done(&back(ids.0), "post_edited")),
        Err(e) => refused(&state, &s, &uri, ids, e, Some(&text)).await,
    }
}

/// `POST /admin/campaigns/{id}/posts/{post}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    match posts::remove(&state, &s.principal(), ids.0, ids.1).await {
        Ok(_) => Ok(done(&back(ids.0), "post_deleted")),
        Err(e) => refused(&state, &s, &uri, ids, e, None).await,
    }
}

async fn pin_or_unpin(
    state: AppState,
    s: Session,
    uri: Uri,
    ids: (Uuid, Uuid),
    body: Bytes,
    change: Change,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    match posts::set_pin(&state, &s.principal(), ids.0, ids.1, change).await {
        Ok(_) => Ok(done(
            &back(ids.0),
            if change == Change::Pin {
                "post_pinned"
            } else {
                "post_unpinned"
            },
        )),
        Err(e) => refused(&state, &s, &uri, ids, e, None).await,
    }
}

/// `POST /admin/campaigns/{id}/posts/{post}/pin`.
pub async fn pin(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> PageResult {
    pin_or_unpin(state, s, uri, ids, body, Change::Pin).await
}

/// `POST /admin/campaigns/{id}/posts/{post}/unpin`.
pub async fn unpin(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(ids): Path<(Uuid, Uuid)>,
    body: Bytes,
) -> PageResult {
    pin_or_unpin(state, s, uri, ids, body, Change::Unpin).await
}
