//! The registry of Telegram channels and groups campaigns may post to
//! (issue 16, first part): `/api/v1/admin/channels` on the staff listener,
//! role organiser or admin, changes audited. A channel is `@name` or a
//! numeric id (never a private chat: people are the audience, not
//! channels), a title and the language of its posts. `.../{id}/check` asks
//! the Bot API what the bot may do there (`getChat` for the chat's type,
//! `getChatMember` for the bot itself).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{Principal, Role, audit};
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::telegram::api::ApiError as BotError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// The channels routes (merged by `media::routes`).
pub fn routes() -> crate::api::Api {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
        .routes(routes!(check))
}

/// A registered channel or group.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Channel {
    pub id: Uuid,
    /// `@name`, or the chat's numeric id as text.
    pub chat: String,
    pub title: String,
    /// ru, kk or en.
    pub language: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, chat, title, language, created_at";

/// A channel or group to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChannel {
    /// `@name` (5-32 letters, digits, `_`) or the numeric id (negative).
    #[schema(value_type = Object)]
    pub chat: Value,
    /// 1-128 characters.
    pub title: String,
    /// ru, kk or en.
    pub language: String,
}

/// What the bot may do in a channel, as Telegram says.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// creator, administrator, member, restricted, left or kicked; or
    /// `unreachable` when Telegram refused to say (see `reason`).
    pub status: String,
    /// channel, supergroup or group, when known.
    pub chat_type: Option<String>,
    /// It may post there.
    pub can_post: bool,
    /// It may pin (in a channel: `can_edit_messages`).
    pub can_pin: bool,
    /// It may edit its posts (in a channel it posts in, or with
    /// `can_edit_messages`).
    pub can_edit: bool,
    /// Telegram's refusal, when `status` is `unreachable`.
    pub reason: Option<String>,
}

/// `@name` or a group's or channel's id, normalised; an error says why not.
fn parse_chat(chat: &Value) -> Result<String, &'static str> {
    let text = match chat {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.as_i64().ok_or("chat: not a chat id")?.to_string(),
        _ => return Err("chat: `@name` or a numeric id"),
    };
    if let Some(name) = text.strip_prefix('@') {
        let ok = (5..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return if ok {
            Ok(text)
        } else {
            Err("chat: a username is 5-32 letters, digits or `_`, starting with a letter")
        };
    }
    match text.parse::<i64>() {
        Ok(id) if id < 0 => Ok(id.to_string()),
        Ok(_) => Err("chat: a positive id is a person's private chat, not a channel or group"),
        Err(_) => Err("chat: `@name` or a numeric id"),
    }
}

/// Lists the registered channels and groups.
#[utoipa::path(get, path = "/api/v1/admin/channels", tag = "channels", security(("bearer" = [])),
    responses((status = 200, body = [Channel]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<Channel>>, ApiError> {
    admin.require(ROLES)?;
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM telegram_channels ORDER BY title, id"
    ))
    .fetch_all(&state.infra.db)
    .await?;
    Ok(ApiJson(rows))
}

/// Registers a channel or group.
#[utoipa::path(post, path = "/api/v1/admin/channels", tag = "channels", security(("bearer" = [])),
    request_body = NewChannel,
    responses((status = 201, body = Channel), (status = 401, body = E), (status = 403, body = E),
              (status = 409, description = "registered already", body = E), (status = 422, body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<NewChannel>,
) -> Result<(StatusCode, ApiJson<Channel>), ApiError> {
    let who = admin.require(ROLES)?;
    let channel = register(&state, who, input).await?;
    Ok((StatusCode::CREATED, ApiJson(channel)))
}

/// Registers a channel or group (the API's and the console's way).
pub async fn register(
    state: &AppState,
    who: &Principal,
    input: NewChannel,
) -> Result<Channel, ApiError> {
    let chat = parse_chat(&input.chat).map_err(ApiError::validation)?;
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 128 {
        return Err(ApiError::validation("title: 1 to 128 characters"));
    }
    let language = match input.language.as_str() {
        "ru" | "kk" | "en" => input.language.as_str(),
        _ => return Err(ApiError::validation("language: ru, kk or en")),
    };
    let id = Uuid::now_v7();
    let mut tx = state.infra.db.begin().await?;
    let inserted: Option<Channel> = sqlx::query_as(&format!(
        "INSERT INTO telegram_channels (id, chat, title, language, created_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&chat)
    .bind(title)
    .bind(language)
    .bind(who.actor())
    .fetch_optional(&mut *tx)
    .await?;
    let channel = inserted.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            "this channel is registered already",
        )
    })?;
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "channel.create",
        Some(&id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(channel)
}

/// Removes a channel from the registry (nothing is sent to Telegram).
#[utoipa::path(delete, path = "/api/v1/admin/channels/{id}", tag = "channels", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "removed"), (status = 401, body = E),
              (status = 403, body = E), (status = 404, body = E)))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let who = admin.require(ROLES)?;
    let mut tx = state.infra.db.begin().await?;
    let gone = sqlx::query("DELETE FROM telegram_channels WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(ApiError::not_found());
    }
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "channel.delete",
        Some(&id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Asks Telegram what the bot may do in the channel.
#[utoipa::path(get, path = "/api/v1/admin/channels/{id}/check", tag = "channels", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Check), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E),
              (status = 503, description = "no bot configured, or the Bot API did not answer", body = E)))]
pub async fn check(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Check>, ApiError> {
    admin.require(ROLES)?;
    check_channel(&state, id).await.map(ApiJson)
}

/// What the bot may do in a registered channel, as Telegram says.
pub async fn check_channel(state: &AppState, id: Uuid) -> Result<Check, ApiError> {
    let chat: String = sqlx::query_scalar("SELECT chat FROM telegram_channels WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.infra.db)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let bot = state
        .telegram
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("no Telegram bot is configured"))?;
    let api = bot.api();
    let chat_id = match chat.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat),
    };
    let bot_id: i64 = api
        .bot_id()
        .parse()
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the bot id is not a number")))?;
    let info = match api.call("getChat", &json!({ "chat_id": chat_id })).await {
        Ok(info) => info,
        Err(e) => return refused(id, e).map(|j| j.0),
    };
    let member = match api
        .call(
            "getChatMember",
            &json!({ "chat_id": chat_id, "user_id": bot_id }),
        )
        .await
    {
        Ok(member) => member,
        Err(e) => return refused(id, e).map(|j| j.0),
    };
    Ok(rights(&info, &member))
}

/// A refusal becomes `unreachable` with Telegram's words (which name no
/// chat); no answer at all, or a flood wait, is a 503.
fn refused(id: Uuid, e: BotError) -> Result<ApiJson<Check>, ApiError> {
    match e {
        BotError::Refused {
            code, description, ..
        } if code != 429 && code < 500 => Ok(ApiJson(Check {
            status: "unreachable".into(),
            chat_type: None,
            can_post: false,
            can_pin: false,
            can_edit: false,
            reason: Some(description),
        })),
        e => {
            tracing::warn!(channel = %id, error = %e, "channel check: the Bot API did not answer");
            Err(ApiError::unavailable(
                "the Telegram Bot API did not answer; try again",
            ))
        }
    }
}

/// The bot's rights from `getChat` and `getChatMember` answers.
fn rights(info: &Value, member: &Value) -> Check {
    let chat_type = info["type"].as_str().map(str::to_string);
    let channel = chat_type.as_deref() == Some("channel");
    let status = member["status"].as_str().unwrap_or("unknown").to_string();
    let flag = |k: &str| member[k].as_bool().unwrap_or(false);
    let group_may_pin = info["permissions"]["can_pin_messages"]
        .as_bool()
        .unwrap_or(false);
    let (can_post, can_pin, can_edit) = match (status.as_str(), channel) {
        ("creator", _) => (true, true, true),
        ("administrator", true) => {
            let post = flag("can_post_messages");
            let edit = flag("can_edit_messages");
            (post, edit, post || edit)
        }
        ("administrator", false) => (true, flag("can_pin_messages"), true),
        ("member", false) => (true, group_may_pin, true),
        ("restricted", false) => {
            let send = flag("can_send_messages");
            (send, send && flag("can_pin_messages"), send)
        }
        _ => (false, false, false),
    };
    Check {
        status,
        chat_type,
        can_post,
        can_pin,
        can_edit,
        reason: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_are_names_or_negative_ids() {
        assert_eq!(parse_chat(&json!("@forum_news")), Ok("@forum_news".into()));
        assert_eq!(
            parse_chat(&json!(-1_001_234_567_890_i64)),
            Ok("-1001234567890".into())
        );
        assert_eq!(parse_chat(&json!(" -100123 ")), Ok("-100123".into()));
        for bad in [
            json!("@abc"),
            json!("@1forum"),
            json!("@forum-news"),
            json!("forum"),
            json!(5_000_000_001_i64),
            json!(null),
        ] {
            assert!(parse_chat(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rights_follow_the_chat_type() {
        let channel = json!({"type": "channel"});
        let group = json!({"type": "supergroup"});
        let admin = json!({"status": "administrator", "can_post_messages": true, "can_edit_messages": false});
        let c = rights(&channel, &admin);
        assert!(c.can_post && !c.can_pin && c.can_edit);
        let member = json!({"status": "member"});
        let c = rights(&channel, &member);
        assert!(!c.can_post && !c.can_pin && !c.can_edit);
        let c = rights(&group, &member);
        assert!(c.can_post && !c.can_pin);
        let c = rights(
            &group,
            &json!({"status": "administrator", "can_pin_messages": true}),
        );
        assert!(c.can_post && c.can_pin && c.can_edit);
        let c = rights(&group, &json!({"status": "left"}));
        assert!(!c.can_post && !c.can_pin && !c.can_edit);
    }
}
