//! A campaign's channel posts after sending (issue 16, "after sending"):
//! `/api/v1/admin/campaigns/{id}/posts` on the staff listener, role
//! organiser or admin, every change audited. The notifier records each
//! post it makes in `campaign_posts` (chat, message ids, which message
//! carries the text and whether as a caption); here a post is listed with
//! its public link, its text edited (`editMessageText`, or
//! `editMessageCaption` when the text is a caption), deleted
//! (`deleteMessage` for every message of it), pinned (silently) or
//! unpinned.
//!
//! A change holds the post's row (`FOR UPDATE`) while it asks Telegram, so
//! two changes to one post happen one after the other; the row changes
//! only once Telegram said yes. Telegram's refusals come back in its own
//! words (they name no chat and quote no text) with what to do about them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{Principal, Role, audit};
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::telegram::api::ApiError as BotError;
use nasvyazi_shared::telegram::text::{MAX_MESSAGE_CHARS, check_html, visible_len};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgPool;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// The longest caption Telegram takes, in characters.
pub const MAX_CAPTION_CHARS: usize = 1024;

/// The posts routes (merged by `media::routes`).
pub fn routes() -> crate::api::Api {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(edit, delete))
        .routes(routes!(pin))
        .routes(routes!(unpin))
}

/// A post the notifier made in a channel or group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Post {
    pub id: Uuid,
    /// `@name`, or the chat's numeric id as text.
    pub chat: String,
    /// The registered channel's title; none for the configured
    /// `telegram.channel` or a channel removed from the registry.
    pub channel_title: Option<String>,
    /// The registered channel, if any.
    pub channel_id: Option<Uuid>,
    /// Every message of the post, in order (an album is several).
    pub message_ids: Vec<i64>,
    /// The message that carries the text.
    pub text_message_id: i64,
    /// The text is the caption of a photo, animation, video or document
    /// (at most 1024 characters) rather than a message (at most 4096).
    pub text_is_caption: bool,
    /// text, media or poll.
    pub kind: String,
    /// posted or deleted.
    pub state: String,
    pub pinned: bool,
    /// `https://t.me/<name>/<message id>` for a public chat,
    /// `https://t.me/c/<id>/<message id>` for a private supergroup or
    /// channel; none for a basic group.
    pub link: Option<String>,
    pub posted_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    chat: String,
    channel_title: Option<String>,
    channel_id: Option<Uuid>,
    message_ids: Vec<i64>,
    text_message_id: i64,
    text_is_caption: bool,
    kind: String,
    state: String,
    pinned: bool,
    posted_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<Row> for Post {
    fn from(r: Row) -> Post {
        let link = r
            .message_ids
            .first()
            .and_then(|first| link(&r.chat, *first));
        Post {
            id: r.id,
            chat: r.chat,
            channel_title: r.channel_title,
            channel_id: r.channel_id,
            message_ids: r.message_ids,
            text_message_id: r.text_message_id,
            text_is_caption: r.text_is_caption,
            kind: r.kind,
            state: r.state,
            pinned: r.pinned,
            link,
            posted_at: r.posted_at,
            edited_at: r.edited_at,
            deleted_at: r.deleted_at,
        }
    }
}

const SELECT: &str = "SELECT p.id, p.chat, c.title AS channel_title, p.channel_id, p.message_ids, \
     p.text_message_id, p.text_is_caption, p.kind, p.state, p.pinned, p.posted_at, p.edited_at, \
     p.deleted_at FROM campaign_posts p LEFT JOIN telegram_channels c ON c.id = p.channel_id";

/// A message's public link: `t.me/<name>/<id>` for `@name`,
/// `t.me/c/<id without -100>/<id>` for a supergroup or channel known by
/// its id; none for a basic group (no links) or a person.
pub fn link(chat: &str, message_id: i64) -> Option<String> {
    if let Some(name) = chat.strip_prefix('@') {
        return Some(format!("https://t.me/{name}/{message_id}"));
    }
    let internal = chat.strip_prefix("-100")?;
    (!internal.is_empty() && internal.chars().all(|c| c.is_ascii_digit()))
        .then(|| format!("https://t.me/c/{internal}/{message_id}"))
}

/// The new text of a post.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewText {
    /// Telegram HTML (b, i, u, s, a, code, pre, blockquote, tg-spoiler):
    /// at most 1024 characters for a caption, 4096 for a message.
    pub text: String,
}

/// A campaign's posts, newest first.
pub async fn posts_of(db: &PgPool, campaign: Uuid) -> sqlx::Result<Vec<Post>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "{SELECT} WHERE p.campaign_id = $1 ORDER BY p.posted_at DESC, p.id DESC"
    ))
    .bind(campaign)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Post::from).collect())
}

/// One post of a campaign.
pub async fn post_of(db: &PgPool, campaign: Uuid, post: Uuid) -> sqlx::Result<Option<Post>> {
    let row: Option<Row> =
        sqlx::query_as(&format!("{SELECT} WHERE p.campaign_id = $1 AND p.id = $2"))
            .bind(campaign)
            .bind(post)
            .fetch_optional(db)
            .await?;
    Ok(row.map(Post::from))
}

/// What may be done to a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Pin,
    Unpin,
}

/// The chat as the Bot API takes it.
fn chat_param(chat: &str) -> Value {
    match chat.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat),
    }
}

/// Checks a new text: Telegram HTML, not empty, within the limit of a
/// caption or a message.
pub fn check_text(text: &str, caption: bool) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::validation("text: the new text is empty"));
    }
    check_html(text)
        .map_err(|why| ApiError::validation(format!("text: not valid Telegram HTML: {why}")))?;
    let len = visible_len(text);
    let (max, what) = if caption {
        (
            MAX_CAPTION_CHARS,
            "a caption (the text under a photo, animation, video or document)",
        )
    } else {
        (MAX_MESSAGE_CHARS, "a message")
    };
    if len > max {
        return Err(ApiError::validation(format!(
            "text: {len} characters; {what} may have at most {max}"
        )));
    }
    Ok(())
}

/// The post, held for the change; 404 unless it is the campaign's.
async fn hold(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    campaign: Uuid,
    post: Uuid,
) -> Result<Post, ApiError> {
    // The row is locked first (FOR UPDATE cannot take the outer join).
    let found: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM campaign_posts WHERE campaign_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(campaign)
    .bind(post)
    .fetch_optional(&mut **tx)
    .await?;
    found.ok_or_else(ApiError::not_found)?;
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE p.id = $1"))
        .bind(post)
        .fetch_one(&mut **tx)
        .await?;
    let post = Post::from(row);
    if post.state == "deleted" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "deleted",
            "this post was deleted",
        ));
    }
    Ok(post)
}

/// Telegram's refusal as an answer: its words and what to do; no answer,
/// a flood wait or its own failure is a 503.
fn refused(post: Uuid, method: &str, e: BotError) -> ApiError {
    match e {
        BotError::Refused {
            code, description, ..
        } if code != 429 && code < 500 => {
            let lower = description.to_ascii_lowercase();
            let hint = if lower.contains("can't be deleted") {
                " (Telegram lets a bot delete a channel or group message only within 48 hours of posting; delete it in the Telegram app as the channel's owner)"
            } else if lower.contains("not enough rights") || lower.contains("chat_admin_required") {
                " (the bot must be an administrator there: in a channel with the right to edit messages, in a group with the right to pin)"
            } else if lower.contains("not found") {
                " (the message is no longer in the chat: it was deleted there, or the bot was removed)"
            } else if lower.contains("can't be edited") {
                " (Telegram no longer lets the bot edit this message)"
            } else {
                ""
            };
            ApiError::new(
                StatusCode::CONFLICT,
                "telegram_refused",
                format!("Telegram refused {method}: {description}{hint}"),
            )
        }
        e => {
            tracing::warn!(post = %post, method, error = %e, "post change: the Bot API did not answer");
            ApiError::unavailable("the Telegram Bot API did not answer; try again")
        }
    }
}

fn api(state: &AppState) -> Result<&nasvyazi_shared::telegram::api::BotApi, ApiError> {
    state
        .telegram
        .as_ref()
        .map(|bot| bot.api())
        .ok_or_else(|| ApiError::unavailable("no Telegram bot is configured"))
}

async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    who: &Principal,
    action: &str,
    campaign: Uuid,
    post: Uuid,
) -> Result<Post, ApiError> {
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        action,
        Some(&post.to_string()),
        json!({ "campaign": campaign }),
    )
    .await?;
    let row: Row = sqlx::query_as(&format!("{SELECT} WHERE p.id = $1"))
        .bind(post)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Post::from(row))
}

/// Replaces a post's text in Telegram.
pub async fn change_text(
    state: &AppState,
    who: &Principal,
    campaign: Uuid,
    id: Uuid,
    text: &str,
) -> Result<Post, ApiError> {
    let mut tx = state.infra.db.begin().await?;
    let post = hold(&mut tx, campaign, id).await?;
    if post.kind == "poll" {
        return Err(ApiError::validation(
            "text: a poll's question cannot be edited",
        ));
    }
    check_text(text, post.text_is_caption)?;
    let api = api(state)?;
    let (method, params) = if post.text_is_caption {
        (
            "editMessageCaption",
            json!({ "chat_id": chat_param(&post.chat), "message_id": post.text_message_id,
                    "caption": text, "parse_mode": "HTML" }),
        )
    } else {
        (
            "editMessageText",
            json!({ "chat_id": chat_param(&post.chat), "message_id": post.text_message_id,
                    "text": text, "parse_mode": "HTML",
                    "link_preview_options": { "is_disabled": true } }),
        )
    };
    match api.call(method, &params).await {
        Ok(_) => {}
        // The same text again: nothing to change, and nothing is wrong.
        Err(BotError::Refused { description, .. })
            if description.contains("message is not modified") =>
        {
            return Ok(post);
        }
        Err(e) => return Err(refused(id, method, e)),
    }
    sqlx::query("UPDATE campaign_posts SET edited_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    finish(tx, who, "post.edit", campaign, id).await
}

/// Deletes every message of a post in Telegram. A message Telegram no
/// longer has counts as deleted; when Telegram refuses one, those deleted
/// before it stay deleted and the post keeps the rest.
pub async fn remove(
    state: &AppState,
    who: &Principal,
    campaign: Uuid,
    id: Uuid,
) -> Result<Post, ApiError> {
    let mut tx = state.infra.db.begin().await?;
    let post = hold(&mut tx, campaign, id).await?;
    let api = api(state)?;
    let mut left = post.message_ids.clone();
    let mut failure = None;
    while let Some(&message_id) = left.first() {
        let params = json!({ "chat_id": chat_param(&post.chat), "message_id": message_id });
        match api.call("deleteMessage", &params).await {
            Ok(_) => {}
            Err(BotError::Refused { description, .. })
                if description.contains("message to delete not found") => {}
            Err(e) => {
                failure = Some(refused(id, "deleteMessage", e));
                break;
            }
        }
        left.remove(0);
    }
    if let Some(e) = failure {
        if left.len() < post.message_ids.len() {
            // Some went: keep what is left to delete, and say so.
            sqlx::query("UPDATE campaign_posts SET message_ids = $2 WHERE id = $1")
                .bind(id)
                .bind(&left)
                .execute(&mut *tx)
                .await?;
            audit(
                &mut tx,
                &who.actor(),
                Some(who.role),
                "post.delete_partly",
                Some(&id.to_string()),
                json!({ "campaign": campaign, "left": left.len() }),
            )
            .await?;
            tx.commit().await?;
        }
        return Err(e);
    }
    sqlx::query(
        "UPDATE campaign_posts SET state = 'deleted', pinned = false, deleted_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    finish(tx, who, "post.delete", campaign, id).await
}

/// Pins a post (without notifying the chat) or unpins it.
pub async fn set_pin(
    state: &AppState,
    who: &Principal,
    campaign: Uuid,
    id: Uuid,
    change: Change,
) -> Result<Post, ApiError> {
    let mut tx = state.infra.db.begin().await?;
    let post = hold(&mut tx, campaign, id).await?;
    let api = api(state)?;
    let first = *post
        .message_ids
        .first()
        .ok_or_else(|| ApiError::validation("the post has no message to pin"))?;
    let chat = chat_param(&post.chat);
    let (method, params, pinned, action) = match change {
        Change::Pin => (
            "pinChatMessage",
            json!({ "chat_id": chat, "message_id": first, "disable_notification": true }),
            true,
            "post.pin",
        ),
        Change::Unpin => (
            "unpinChatMessage",
            json!({ "chat_id": chat, "message_id": first }),
            false,
            "post.unpin",
        ),
    };
    api.call(method, &params)
        .await
        .map_err(|e| refused(id, method, e))?;
    sqlx::query("UPDATE campaign_posts SET pinned = $2 WHERE id = $1")
        .bind(id)
        .bind(pinned)
        .execute(&mut *tx)
        .await?;
    finish(tx, who, action, campaign, id).await
}

/// Lists a campaign's channel posts, newest first.
#[utoipa::path(get, path = "/api/v1/admin/campaigns/{id}/posts", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = [Post]), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Vec<Post>>, ApiError> {
    admin.require(ROLES)?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM campaigns WHERE id = $1)")
        .bind(id)
        .fetch_one(&state.infra.db)
        .await?;
    if !exists {
        return Err(ApiError::not_found());
    }
    Ok(ApiJson(posts_of(&state.infra.db, id).await?))
}

/// Replaces a post's text (its caption, for a post with media).
#[utoipa::path(put, path = "/api/v1/admin/campaigns/{id}/posts/{post}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("post" = Uuid, Path)), request_body = NewText,
    responses((status = 200, body = Post), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E),
              (status = 409, description = "deleted, or Telegram refused (its words)", body = E),
              (status = 422, description = "not Telegram HTML, or too long", body = E),
              (status = 503, description = "no bot, or the Bot API did not answer", body = E)))]
pub async fn edit(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, post)): Path<(Uuid, Uuid)>,
    ApiJson(input): ApiJson<NewText>,
) -> Result<ApiJson<Post>, ApiError> {
    let who = admin.require(ROLES)?;
    change_text(&state, who, id, post, &input.text)
        .await
        .map(ApiJson)
}

/// Deletes a post from its chat (every message of it).
#[utoipa::path(delete, path = "/api/v1/admin/campaigns/{id}/posts/{post}", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("post" = Uuid, Path)),
    responses((status = 200, description = "deleted", body = Post), (status = 401, body = E),
              (status = 403, body = E), (status = 404, body = E),
              (status = 409, description = "deleted already, or Telegram refused (a message older than 48 hours)", body = E),
              (status = 503, description = "no bot, or the Bot API did not answer", body = E)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, post)): Path<(Uuid, Uuid)>,
) -> Result<ApiJson<Post>, ApiError> {
    let who = admin.require(ROLES)?;
    remove(&state, who, id, post).await.map(ApiJson)
}

/// Pins a post, silently.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/posts/{post}/pin", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("post" = Uuid, Path)),
    responses((status = 200, body = Post), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E),
              (status = 409, description = "deleted, or Telegram refused (no right to pin)", body = E),
              (status = 503, body = E)))]
pub async fn pin(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, post)): Path<(Uuid, Uuid)>,
) -> Result<ApiJson<Post>, ApiError> {
    let who = admin.require(ROLES)?;
    set_pin(&state, who, id, post, Change::Pin)
        .await
        .map(ApiJson)
}

/// Unpins a post.
#[utoipa::path(post, path = "/api/v1/admin/campaigns/{id}/posts/{post}/unpin", tag = "campaigns", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("post" = Uuid, Path)),
    responses((status = 200, body = Post), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E),
              (status = 409, description = "deleted, or Telegram refused (no right to pin)", body = E),
              (status = 503, body = E)))]
pub async fn unpin(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, post)): Path<(Uuid, Uuid)>,
) -> Result<ApiJson<Post>, ApiError> {
    let who = admin.require(ROLES)?;
    set_pin(&state, who, id, post, Change::Unpin)
        .await
        .map(ApiJson)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_chat() {
        assert_eq!(
            link("@forum_news_kz", 42).as_deref(),
            Some("https://t.me/forum_news_kz/42")
        );
        assert_eq!(
            link("-1001555000001", 7).as_deref(),
            Some("https://t.me/c/1555000001/7")
        );
        assert_eq!(link("-4567", 7), None);
        assert_eq!(link("-100", 7), None);
    }

    #[test]
    fn texts_are_telegram_html_within_the_limit() {
        assert!(check_text("<b>Webinar</b> at 19:00", true).is_ok());
        assert!(check_text("   ", false).is_err());
        assert!(check_text("<div>x</div>", false).is_err());
        assert!(check_text("a & b", false).is_err());
        let long = "я".repeat(1025);
        let e = check_text(&long, true).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            e.message.contains("1025") && e.message.contains("1024"),
            "{}",
            e.message
        );
        assert!(check_text(&long, false).is_ok());
        assert!(check_text(&"я".repeat(4097), false).is_err());
    }
}
