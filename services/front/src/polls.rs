//! Native Telegram polls in registered channels (issue 17): the admin API
//! on the staff listener (role organiser or admin, changes audited) sends
//! an anonymous poll (`sendPoll`, `is_anonymous` true) to a channel of the
//! registry ([`crate::channels`]) at once; the counts come from the
//! `poll` updates Telegram sends the bot for polls it sent (the poller and
//! the webhook both ask for them), and `.../stop` closes it (`stopPoll`).
//! The console shows the results as bars (`/admin/polls`).
//!
//! Anonymous polls tell the bot counts only, never who voted: nothing
//! about a voter is stored. A campaign's channel post can be a poll too
//! (`telegram_poll` in its templates): the notifier sends and records it
//! (`campaign` names the campaign), and it is counted and shown here.
//!
//! Routes: `POST /api/v1/admin/polls` `{ "channel", "question", "options",
//! "allows_multiple_answers" }` -> 201 with the poll; `GET
//! /api/v1/admin/polls`; `GET /api/v1/admin/polls/{id}`; `POST
//! /api/v1/admin/polls/{id}/stop`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{Principal, Role, audit};
use nasvyazi_shared::error::{ApiError, ApiJson};
use nasvyazi_shared::telegram::api::ApiError as BotError;
use nasvyazi_shared::telegram::polls;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::PgConnection;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;

const ROLES: &[Role] = &[Role::Organiser];
type E = nasvyazi_shared::error::ErrorBody;

/// Telegram's limits, shared with campaign polls (`telegram_poll` in a
/// campaign's templates) and the notifier.
pub use nasvyazi_shared::telegram::polls::{MAX_OPTION, MAX_OPTIONS, MAX_QUESTION};

/// The admin API routes.
pub fn routes() -> crate::api::Api {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(one))
        .routes(routes!(stop))
}

/// A poll to send now.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPoll {
    /// The registered channel (`/api/v1/admin/channels` id).
    pub channel: Uuid,
    /// 1-300 characters.
    pub question: String,
    /// 2-12 options of 1-100 characters.
    pub options: Vec<String>,
    #[serde(default)]
    pub allows_multiple_answers: bool,
}

/// One option and its votes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PollOptionResult)]
pub struct OptionView {
    pub text: String,
    pub voter_count: i64,
    /// Of the people who voted (with multiple answers the sum may pass 100).
    pub percent: f64,
}

/// A poll and its counts, as the last `poll` update told them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Poll {
    pub id: Uuid,
    /// The registry row (null once removed from the registry).
    pub channel: Option<Uuid>,
    /// `@name` or the numeric id, as sent to.
    pub chat: String,
    pub message_id: i64,
    pub question: String,
    pub options: Vec<OptionView>,
    pub total_voter_count: i64,
    pub allows_multiple_answers: bool,
    pub is_anonymous: bool,
    pub closed: bool,
    /// The campaign whose channel post it is (null for a poll sent here).
    pub campaign: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    channel_id: Option<Uuid>,
    chat: String,
    message_id: i64,
    question: String,
    options: sqlx::types::Json<Vec<String>>,
    counts: Vec<i64>,
    total_voters: i64,
    allows_multiple_answers: bool,
    closed: bool,
    campaign_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, channel_id, chat, message_id, question, options, counts, total_voters, \
                       allows_multiple_answers, closed, campaign_id, created_at, closed_at";

/// `n` of `total` in percent, one decimal.
pub fn percent(n: i64, total: i64) -> f64 {
    if total <= 0 {
        return 0.0;
    }
    ((n as f64) * 1000.0 / (total as f64)).round() / 10.0
}

impl From<Row> for Poll {
    fn from(r: Row) -> Poll {
        let options = r
            .options
            .0
            .into_iter()
            .enumerate()
            .map(|(i, text)| {
                let n = r.counts.get(i).copied().unwrap_or(0);
                OptionView {
                    text,
                    voter_count: n,
                    percent: percent(n, r.total_voters),
                }
            })
            .collect();
        Poll {
            id: r.id,
            channel: r.channel_id,
            chat: r.chat,
            message_id: r.message_id,
            question: r.question,
            options,
            total_voter_count: r.total_voters,
            allows_multiple_answers: r.allows_multiple_answers,
            is_anonymous: true,
            closed: r.closed,
            campaign: r.campaign_id,
            created_at: r.created_at,
            closed_at: r.closed_at,
        }
    }
}

/// Every poll, newest first (at most 500).
pub async fn list_all(db: &sqlx::PgPool) -> sqlx::Result<Vec<Poll>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM telegram_polls ORDER BY created_at DESC LIMIT 500"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Poll::from).collect())
}

pub async fn load(db: &sqlx::PgPool, id: Uuid) -> sqlx::Result<Option<Poll>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM telegram_polls WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(row.map(Poll::from))
}

fn check(input: &NewPoll) -> Result<(String, Vec<String>), String> {
    polls::normalise(&input.question, &input.options)
}

/// A campaign's channel poll (`telegram_poll`) within the same limits as
/// a poll sent here; why not, naming the part.
pub fn check_template(poll: &nasvyazi_campaigns::PollTemplate) -> Result<(), String> {
    polls::normalise(&poll.question, &poll.options).map(|_| ())
}

/// The chat parameter for a registry row's chat (`@name` or a number).
fn chat_param(chat: &str) -> Value {
    match chat.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => json!(chat),
    }
}

/// A Bot API refusal as our answer: Telegram's words (which name no
/// person) with 502; no answer at all is 503.
fn bot_error(e: BotError) -> ApiError {
    match e {
        BotError::Refused {
            code, description, ..
        } if code != 429 && code < 500 => ApiError::new(
            StatusCode::BAD_GATEWAY,
            "telegram_refused",
            format!("Telegram refused: {description}"),
        ),
        e => {
            tracing::warn!(error = %e, "polls: the Bot API did not answer");
            ApiError::unavailable("the Telegram Bot API did not answer; try again")
        }
    }
}

/// Sends a poll to a registered channel now, and records it. Used by the
/// admin API (and the console could).
pub async fn send(state: &AppState, who: &Principal, input: &NewPoll) -> Result<Poll, ApiError> {
    let (question, options) = check(input).map_err(ApiError::validation)?;
    let chat: String = sqlx::query_scalar("SELECT chat FROM telegram_channels WHERE id = $1")
        .bind(input.channel)
        .fetch_optional(&state.infra.db)
        .await?
        .ok_or_else(|| ApiError::validation("channel: no such registered channel"))?;
    let bot = state
        .telegram
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("no Telegram bot is configured"))?;
    let params = polls::send_params(
        chat_param(&chat),
        &question,
        &options,
        input.allows_multiple_answers,
    );
    let message = bot
        .api()
        .call("sendPoll", &params)
        .await
        .map_err(bot_error)?;
    let Some((poll_id, message_id)) = polls::sent_ids(&message) else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "sendPoll answered without a poll"
        )));
    };
    let mut tx = state.infra.db.begin().await?;
    let actor = who.actor();
    let id = polls::record(
        &mut tx,
        &polls::Record {
            poll_id,
            channel_id: Some(input.channel),
            chat: &chat,
            message_id,
            question: &question,
            options: &options,
            allows_multiple_answers: input.allows_multiple_answers,
            campaign_id: None,
            created_by: &actor,
        },
    )
    .await?
    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("Telegram reused a poll id")))?;
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "poll.create",
        Some(&id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(poll = %id, "poll sent to a channel");
    load(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// A `poll` update: the counts and whether it is closed, for a poll we
/// sent (others are ignored). Called in the update's transaction.
pub async fn on_update(conn: &mut PgConnection, poll: &Value) -> sqlx::Result<()> {
    let Some(poll_id) = poll["id"].as_str() else {
        return Ok(());
    };
    let counts: Vec<i64> = poll["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|x| x["voter_count"].as_i64().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    let total = poll["total_voter_count"].as_i64().unwrap_or(0);
    let closed = poll["is_closed"] == true;
    let updated = sqlx::query(
        "UPDATE telegram_polls SET counts = $2, total_voters = $3,
             closed = closed OR $4,
             closed_at = CASE WHEN $4 AND NOT closed THEN now() ELSE closed_at END,
             updated_at = now()
         WHERE poll_id = $1 AND cardinality(counts) = cardinality($2::bigint[])",
    )
    .bind(poll_id)
    .bind(&counts)
    .bind(total)
    .bind(closed)
    .execute(conn)
    .await?
    .rows_affected();
    if updated == 1 {
        tracing::debug!("poll counts updated");
    }
    Ok(())
}

/// Stops a poll (stopPoll) and records the final counts.
pub async fn stop_poll(state: &AppState, who: &Principal, id: Uuid) -> Result<Poll, ApiError> {
    let row: Option<(String, i64, bool)> =
        sqlx::query_as("SELECT chat, message_id, closed FROM telegram_polls WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.infra.db)
            .await?;
    let (chat, message_id, closed) = row.ok_or_else(ApiError::not_found)?;
    if closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "closed",
            "this poll is closed already",
        ));
    }
    let bot = state
        .telegram
        .as_ref()
        .ok_or_else(|| ApiError::unavailable("no Telegram bot is configured"))?;
    let answer = bot
        .api()
        .call(
            "stopPoll",
            &json!({"chat_id": chat_param(&chat), "message_id": message_id}),
        )
        .await;
    let mut tx = state.infra.db.begin().await?;
    match answer {
        Ok(poll) => on_update(&mut tx, &poll).await?,
        // Closed on Telegram's side already: record it as closed.
        Err(BotError::Refused { description, .. })
            if description.contains("poll has already been closed") => {}
        Err(e) => return Err(bot_error(e)),
    }
    sqlx::query(
        "UPDATE telegram_polls SET closed = true, closed_at = coalesce(closed_at, now()),
             updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit(
        &mut tx,
        &who.actor(),
        Some(who.role),
        "poll.stop",
        Some(&id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    load(&state.infra.db, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Sends an anonymous poll to a registered channel now.
#[utoipa::path(post, path = "/api/v1/admin/polls", tag = "polls", security(("bearer" = [])),
    request_body = NewPoll,
    responses((status = 201, body = Poll), (status = 401, body = E), (status = 403, body = E),
              (status = 422, body = E), (status = 502, description = "Telegram refused", body = E),
              (status = 503, description = "no bot, or the Bot API did not answer", body = E)))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(input): ApiJson<NewPoll>,
) -> Result<(StatusCode, ApiJson<Poll>), ApiError> {
    let who = admin.require(ROLES)?;
    let poll = send(&state, who, &input).await?;
    Ok((StatusCode::CREATED, ApiJson(poll)))
}

/// The polls sent, newest first, with their counts.
#[utoipa::path(get, path = "/api/v1/admin/polls", tag = "polls", security(("bearer" = [])),
    responses((status = 200, body = [Poll]), (status = 401, body = E), (status = 403, body = E)))]
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Vec<Poll>>, ApiError> {
    admin.require(ROLES)?;
    Ok(ApiJson(list_all(&state.infra.db).await?))
}

/// One poll: counts and percentages.
#[utoipa::path(get, path = "/api/v1/admin/polls/{id}", tag = "polls", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Poll), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E)))]
pub async fn one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Poll>, ApiError> {
    admin.require(ROLES)?;
    load(&state.infra.db, id)
        .await?
        .map(ApiJson)
        .ok_or_else(ApiError::not_found)
}

/// Closes a poll (no more votes); the final counts are kept.
#[utoipa::path(post, path = "/api/v1/admin/polls/{id}/stop", tag = "polls", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Poll), (status = 401, body = E), (status = 403, body = E),
              (status = 404, body = E), (status = 409, description = "closed already", body = E),
              (status = 502, body = E), (status = 503, body = E)))]
pub async fn stop(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<ApiJson<Poll>, ApiError> {
    let who = admin.require(ROLES)?;
    Ok(ApiJson(stop_poll(&state, who, id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_limits() {
        assert_eq!(percent(1, 3), 33.3);
        assert_eq!(percent(2, 3), 66.7);
        assert_eq!(percent(0, 0), 0.0);
        let input = |question: &str, options: Vec<&str>| NewPoll {
            channel: Uuid::nil(),
            question: question.into(),
            options: options.into_iter().map(str::to_string).collect(),
            allows_multiple_answers: false,
        };
        assert!(check(&input("Q?", vec!["a", "b"])).is_ok());
        assert!(
            check(&input(" ", vec!["a", "b"]))
                .unwrap_err()
                .starts_with("question")
        );
        assert!(
            check(&input("Q?", vec!["a"]))
                .unwrap_err()
                .starts_with("options")
        );
        let long = "x".repeat(101);
        assert_eq!(
            check(&input("Q?", vec!["a", &long])).unwrap_err(),
            "options[1]: 1 to 100 characters"
        );
        assert!(check(&input("Q?", vec!["o"; 13])).is_err());
    }
}
