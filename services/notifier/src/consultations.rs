//! Consultations in the notifier:
//!
//! - **Replies**, at most once. A staff reply to a Telegram conversation
//!   is a `conversation_messages` row in `queued`; the sender (only the
//!   holder of the bot's sending lease) claims it into `sending` and
//!   commits, sends with no transaction open (`sendMessage`, or
//!   `copyMessage` of a consultant's message in the staff topic; never
//!   `forwardMessage`), then records `sent`, `failed` (Telegram refused:
//!   blocked, bad request) or, when the send may have happened (a dropped
//!   connection, a 5xx), `unknown`. A row still `sending` after
//!   `letters.lease_secs` (a crash) becomes `unknown`: shown as such in the
//!   conversation, never sent again by itself.
//! - **Alerts** to staff: a new conversation, one waiting for us longer
//!   than `consultations.alert_after_minutes` within the organisation's
//!   hours, and referrals to a speciality. Ledger rows of kind
//!   `consultation_alert` (ref = the `conversation_alerts` row); the
//!   message carries the conversation's number and a console link, never
//!   content. At most one page per `alert_after_minutes` (referrals
//!   aside): alerts within the window are held and then paged as one
//!   digest, so a flood of junk conversations cannot page staff on end.

use std::sync::Arc;
use std::time::Duration;

use crate::channels::{EmailMessage, Outgoing, TelegramMessage};
use nasvyazi_cases::consultations::{message_aad, person_aad};
use nasvyazi_cases::replies;
use nasvyazi_shared::consumer::{HandleError, Handler};
use nasvyazi_shared::crypto::Keyring;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::events::{Envelope, Event};
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::lease::Lease;
use nasvyazi_shared::telegram::api::ApiError;
use nasvyazi_shared::telegram::budget::Class;
use nasvyazi_shared::{Config, Infra};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::channels::telegram::Telegram;
use crate::compose::{ComposeCtx, NotReady, Prepared};
use crate::deliveries::{self, Claimed};

/// The ledger's kind for alerts.
pub const ALERT_KIND: &str = crate::deliveries::Kind::ConsultationAlert.as_str();

/// Where the PostgreSQL wake-up comes from (the cases crate's NOTIFY).
pub use nasvyazi_cases::replies::REPLY_WAKE;

// ---------------------------------------------------------------- alerts

/// The staff channels alerts go to (`email`, `telegram`).
fn staff_channels(config: &Config) -> Vec<String> {
    let mut v = Vec::new();
    if !config.consultations.staff_email.trim().is_empty() {
        v.push("email".to_string());
    }
    if !config.telegram.staff_chat.trim().is_empty() {
        v.push("telegram".to_string());
    }
    v
}

/// Queues the deliveries of alert `alert_id`: the staff channels, and for
/// a referral every enabled console user with that speciality (by email).
pub async fn queue_alert(
    conn: &mut PgConnection,
    config: &Config,
    alert_id: Uuid,
) -> sqlx::Result<u64> {
    let staff = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), $3, a.id, a.id, ch
         FROM conversation_alerts a CROSS JOIN unnest($2::text[]) AS ch
         WHERE a.id = $1 ON CONFLICT DO NOTHING",
    )
    .bind(alert_id)
    .bind(staff_channels(config))
    .bind(ALERT_KIND)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let referred = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), $2, a.id, u.id, 'email'
         FROM conversation_alerts a JOIN console_users u
              ON u.speciality = a.speciality AND u.disabled_at IS NULL
         WHERE a.id = $1 AND a.reason = 'referral' ON CONFLICT DO NOTHING",
    )
    .bind(alert_id)
    .bind(ALERT_KIND)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    deliveries::wake(conn).await?;
    Ok(staff + referred)
}

/// Pages are serialised by this advisory lock (so two alerts arriving at
/// once cannot both decide that no page went out recently).
const PAGES_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('nasvyazi:consultation-pages'))";

/// Whether a page (any alert but a referral) went out within
/// `consultations.alert_after_minutes`.
async fn paged_recently(conn: &mut PgConnection, config: &Config) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM conversation_alerts
                         WHERE reason <> 'referral'
                           AND paged_at > now() - make_interval(mins => $1))",
    )
    .bind(config.consultations.alert_after_minutes as i32)
    .fetch_one(&mut *conn)
    .await
}

/// Pages staff for alert `alert_id` (queues its deliveries) unless a page
/// went out within `alert_after_minutes`: then the alert is held, and
/// [`page_held`] sends one digest for everything held once the window has
/// passed. A flood of junk conversations pages staff once per window.
/// Returns the deliveries queued (0: held).
pub async fn page_or_hold(
    conn: &mut PgConnection,
    config: &Config,
    alert_id: Uuid,
) -> sqlx::Result<u64> {
    sqlx::query(PAGES_LOCK).execute(&mut *conn).await?;
    if paged_recently(conn, config).await? {
        metrics::counter!("nasvyazi_consultation_alerts_held_total").increment(1);
        return Ok(0);
    }
    sqlx::query("UPDATE conversation_alerts SET paged_at = now() WHERE id = $1")
        .bind(alert_id)
        .execute(&mut *conn)
        .await?;
    queue_alert(conn, config, alert_id).await
}

/// The held alerts, once no page went out within `alert_after_minutes`:
/// one page for a single conversation still waiting for us, else one
/// digest ("N conversations are waiting"). Alerts of conversations no
/// longer waiting for us are let go without a page. Returns the
/// deliveries queued.
pub async fn page_held(conn: &mut PgConnection, config: &Config) -> sqlx::Result<u64> {
    sqlx::query(PAGES_LOCK).execute(&mut *conn).await?;
    if paged_recently(conn, config).await? {
        return Ok(0);
    }
    let held: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "UPDATE conversation_alerts a SET paged_at = now()
           FROM conversations c
          WHERE a.paged_at IS NULL AND a.reason IN ('new', 'waiting')
            AND c.id = a.conversation_id AND c.state = 'open' AND c.waiting_for = 'staff'
         RETURNING a.id, a.conversation_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    // The rest (answered or closed meanwhile) need no page.
    sqlx::query(
        "UPDATE conversation_alerts SET paged_at = now()
          WHERE paged_at IS NULL AND reason IN ('new', 'waiting')",
    )
    .execute(&mut *conn)
    .await?;
    let conversations: std::collections::BTreeSet<Uuid> = held.iter().map(|h| h.1).collect();
    match conversations.len() {
        0 => Ok(0),
        1 => queue_alert(conn, config, held[0].0).await,
        n => {
            let digest: Uuid = sqlx::query_scalar(
                "INSERT INTO conversation_alerts (id, conversation_id, reason, conversations, paged_at)
                 VALUES ($1, NULL, 'digest', $2, now()) RETURNING id",
            )
            .bind(Uuid::now_v7())
            .bind(n as i32)
            .fetch_one(&mut *conn)
            .await?;
            queue_alert(conn, config, digest).await
        }
    }
}

/// `conversation.opened` -> a "new conversation" alert.
pub struct ConversationOpened {
    pub config: Arc<Config>,
}

#[async_trait::async_trait]
impl Handler for ConversationOpened {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ConversationOpened { conversation_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        // One "new" alert per conversation, whatever how often the event comes.
        let alert: Option<Uuid> = sqlx::query_scalar(
            "INSERT INTO conversation_alerts (id, conversation_id, reason)
             SELECT $1, $2, 'new' WHERE EXISTS (SELECT 1 FROM conversations WHERE id = $2)
               AND NOT EXISTS (SELECT 1 FROM conversation_alerts WHERE conversation_id = $2 AND reason = 'new')
             RETURNING id",
        )
        .bind(Uuid::now_v7())
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(alert) = alert {
            let n = page_or_hold(tx, &self.config, alert).await?;
            tracing::info!(%conversation_id, deliveries = n, "new conversation alert (0: held for a digest)");
        }
        Ok(())
    }
}

/// `conversation.alert` (a referral) -> its deliveries.
pub struct ConversationAlert {
    pub config: Arc<Config>,
}

#[async_trait::async_trait]
impl Handler for ConversationAlert {
    async fn handle(&self, tx: &mut PgConnection, event: &Envelope) -> Result<(), HandleError> {
        let Event::ConversationAlert { alert_id } = event.event else {
            return Err(HandleError::Permanent(anyhow::anyhow!(
                "unexpected event type {}",
                event.event.event_type()
            )));
        };
        // A referral is a colleague's deliberate act: paged at once.
        sqlx::query("UPDATE conversation_alerts SET paged_at = now() WHERE id = $1")
            .bind(alert_id)
            .execute(&mut *tx)
            .await?;
        let n = queue_alert(tx, &self.config, alert_id).await?;
        tracing::info!(%alert_id, deliveries = n, "conversation alert queued");
        Ok(())
    }
}

/// Conversations waiting for us too long within hours get one "waiting"
/// alert per wait; then the held alerts are paged ([`page_held`]: one
/// page, or one digest, per `alert_after_minutes`). Returns how many
/// "waiting" alerts were made.
pub async fn alert_waiting(db: &PgPool, config: &Config) -> anyhow::Result<u64> {
    let c = &config.consultations;
    let hours = nasvyazi_shared::hours::OfficeHours::parse(&c.hours).unwrap_or_default();
    let tz: chrono_tz::Tz = c.time_zone.parse().unwrap_or(chrono_tz::Asia::Almaty);
    let mut tx = db.begin().await?;
    if !hours.is_open(tz, chrono::Utc::now()) {
        // New conversations held outside hours still get their digest.
        page_held(&mut tx, config).await?;
        tx.commit().await?;
        return Ok(0);
    }
    let alerts: Vec<Uuid> = sqlx::query_scalar(
        "WITH due AS (
             UPDATE conversations SET alerted_at = now()
             WHERE state = 'open' AND waiting_for = 'staff'
               AND waiting_since < now() - make_interval(mins => $1)
               AND (alerted_at IS NULL OR alerted_at < waiting_since)
             RETURNING id)
         INSERT INTO conversation_alerts (id, conversation_id, reason)
         SELECT gen_random_uuid(), id, 'waiting' FROM due RETURNING id",
    )
    .bind(c.alert_after_minutes as i32)
    .fetch_all(&mut *tx)
    .await?;
    page_held(&mut tx, config).await?;
    tx.commit().await?;
    Ok(alerts.len() as u64)
}

/// Work whose event was lost: "new" alerts of conversations that have none.
pub async fn reconcile(db: &PgPool, config: &Config, grace: Duration) -> anyhow::Result<u64> {
    let mut tx = db.begin().await?;
    let alerts: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO conversation_alerts (id, conversation_id, reason)
         SELECT gen_random_uuid(), c.id, 'new' FROM conversations c
         WHERE c.created_at < now() - make_interval(secs => $1)
           AND c.created_at > now() - interval '1 day'
           AND NOT EXISTS (SELECT 1 FROM conversation_alerts a WHERE a.conversation_id = c.id AND a.reason = 'new')
         RETURNING id",
    )
    .bind(grace.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    // Held like any other: paged by `page_held` within the window's rule.
    page_held(&mut tx, config).await?;
    tx.commit().await?;
    Ok(alerts.len() as u64)
}

/// The alert's text (Russian: staff read alerts in Russian), with the
/// number and a console link only.
pub async fn prepare_alert(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    type Row = (
        Option<Uuid>,
        Option<String>,
        String,
        Option<String>,
        Option<i32>,
    );
    let found: Option<Row> = sqlx::query_as(
        "SELECT c.id, c.number, a.reason, a.speciality, a.conversations FROM conversation_alerts a
         LEFT JOIN conversations c ON c.id = a.conversation_id WHERE a.id = $1",
    )
    .bind(row.ref_id)
    .fetch_optional(&cx.infra.db)
    .await?;
    let Some((id, number, reason, speciality, count)) = found else {
        return Err(NotReady::Skip("conversation erased"));
    };
    let config = cx.config();
    let lang = Lang::Ru;
    let (number, path) = match (reason.as_str(), id, number) {
        ("digest", _, _) => (String::new(), "/admin/conversations".to_string()),
        (_, Some(id), Some(number)) => (number, format!("/admin/conversations/{id}")),
        _ => return Err(NotReady::Skip("conversation erased")),
    };
    let key = match reason.as_str() {
        "new" => "consult_alert.new",
        "waiting" => "consult_alert.waiting",
        "digest" => "consult_alert.digest",
        _ => "consult_alert.referral",
    };
    let speciality = speciality.unwrap_or_default();
    let subject = nasvyazi_shared::i18n::fill(
        &nasvyazi_shared::i18n::t(lang, key),
        &[
            ("number", &number),
            ("speciality", &speciality),
            (
                "minutes",
                &config.consultations.alert_after_minutes.to_string(),
            ),
            ("count", &count.unwrap_or_default().to_string()),
        ],
    );
    let link = format!("{}{path}", config.console_base());
    let message = match row.channel.as_str() {
        "email" => {
            let to = if row.contact_id == row.ref_id {
                config.consultations.staff_email.clone()
            } else {
                match console_user_email(&cx.infra.db, &cx.keys, row.contact_id).await? {
                    Some(a) => a,
                    None => return Err(NotReady::Skip("user disabled or deleted")),
                }
            };
            let Ok(to) = EmailAddress::parse(&to) else {
                return Err(NotReady::Skip("no staff address"));
            };
            Outgoing::Email(EmailMessage {
                to,
                from: config.email.from.clone(),
                reply_to: None,
                subject: subject.clone(),
                text: format!(
                    "{subject}\n\n{}\n{link}\n",
                    nasvyazi_shared::i18n::t(lang, "consult_alert.open")
                ),
                html: None,
                message_id: crate::render::message_id(config, row.id),
                language: lang.code().to_string(),
                headers: Vec::new(),
                inline: Vec::new(),
            })
        }
        "telegram" => {
            let chat = config.telegram.staff_chat.trim();
            if chat.is_empty() {
                return Err(NotReady::Skip("telegram.staff_chat is not set"));
            }
            Outgoing::Telegram(TelegramMessage {
                chat: chat.to_string(),
                html: escape(&subject),
                reply_markup: None,
                media: Vec::new(),
            })
        }
        other => return Err(NotReady::Fail(format!("alert on channel {other}"))),
    };
    Ok(Prepared {
        message,
        suppress_key: None,
    })
}

/// A console user's address, opened only to send them an alert.
async fn console_user_email(
    db: &PgPool,
    keys: &Keyring,
    user: Uuid,
) -> Result<Option<String>, NotReady> {
    let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT data_key, email_ct FROM console_users WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(user)
    .fetch_optional(db)
    .await?;
    let Some((wrapped, ct)) = row else {
        return Ok(None);
    };
    let fail = |_| NotReady::Fail("console user cannot be decrypted (wrong master key?)".into());
    let key = keys.unwrap_data_key(&wrapped).map_err(fail)?;
    let email = key
        .open_string(&ct, &nasvyazi_shared::console::user_aad(user, "email"))
        .map_err(fail)?;
    Ok(Some(email))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ---------------------------------------------------------------- replies

/// The reply sender.
pub struct ReplySender {
    pub infra: Infra,
    pub keys: Arc<Keyring>,
    pub telegram: Arc<Telegram>,
    pub lease: Arc<Lease>,
    /// Woken when front queues a reply (see `telegram::listen`).
    pub wake: Arc<tokio::sync::Notify>,
}

/// What became of one reply.
#[derive(Debug)]
enum Outcome {
    Sent(Option<i64>),
    /// Certainly not sent: try again after this.
    Later(Duration, String),
    Failed(String),
    Unknown(String),
}

/// Sorts a Bot API refusal: sent or not, and whether to try again.
fn outcome(result: Result<Value, ApiError>) -> Outcome {
    match result {
        Ok(v) => Outcome::Sent(v["message_id"].as_i64()),
        Err(ApiError::Refused {
            code: 429,
            description,
            retry_after,
        }) => Outcome::Later(
            retry_after.unwrap_or(Duration::from_secs(1)),
            format!("telegram 429: {description}"),
        ),
        // A wrong token: Telegram did nothing; fixing it delivers.
        Err(ApiError::Refused {
            code: code @ (401 | 404),
            description,
            ..
        }) => Outcome::Later(
            Duration::from_secs(60),
            format!("telegram {code}: {description}"),
        ),
        Err(ApiError::Refused {
            code: code @ 400..=499,
            description,
            ..
        }) => Outcome::Failed(format!("telegram {code}: {description}")),
        Err(ApiError::Refused {
            code, description, ..
        }) => Outcome::Unknown(format!("telegram {code}: {description}")),
        Err(ApiError::Transport(reason)) => {
            let refused = reason.contains("Connect") || reason.contains("connect error");
            if refused {
                Outcome::Later(Duration::from_secs(5), format!("telegram: {reason}"))
            } else {
                Outcome::Unknown(format!("telegram: {reason}"))
            }
        }
    }
}

impl ReplySender {
    /// Runs until `shutdown`: woken by NOTIFY, with a poll as fallback.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let token = shutdown.clone();
        nasvyazi_shared::shutdown::restarting("consultation-replies", shutdown, move || {
            let (this, token) = (self.clone(), token.clone());
            async move { this.run_once(token).await }
        })
        .await
    }

    async fn run_once(self: Arc<Self>, shutdown: CancellationToken) -> anyhow::Result<()> {
        let poll = Duration::from_millis(self.infra.config.notifier.poll_interval_ms);
        while !shutdown.is_cancelled() {
            match self.tick().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "reply sender pass failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
        Ok(())
    }

    /// One pass: flags crashed sends `unknown`, claims due replies, sends
    /// them. Returns how many it settled.
    pub async fn tick(&self) -> anyhow::Result<usize> {
        if !self.lease.is_held() {
            return Ok(0);
        }
        let db = &self.infra.db;
        let lease = Duration::from_secs(self.infra.config.letters.lease_secs);
        let flagged = replies::flag_stale(db, lease).await?;
        if flagged > 0 {
            tracing::warn!(replies = flagged, "replies left in sending flagged unknown");
        }
        let claimed = replies::claim_due(db, 16).await?;
        let n = claimed.len();
        for row in claimed {
            let id = row.0;
            let result = self.send(row).await;
            let (state, error, tg, later) = match result {
                Ok(Outcome::Sent(tg)) => ("sent", None, tg, None),
                Ok(Outcome::Later(after, why)) => ("queued", Some(why), None, Some(after)),
                Ok(Outcome::Failed(why)) => ("failed", Some(why), None, None),
                Ok(Outcome::Unknown(why)) => ("unknown", Some(why), None, None),
                // Nothing was sent (the person or conversation was erased,
                // or it could not be opened).
                Err(e) => ("failed", Some(format!("{e:#}")), None, None),
            };
            metrics::counter!("nasvyazi_conversation_replies_sent_total", "outcome" => state)
                .increment(1);
            let settled = replies::Settled {
                state,
                error,
                tg_message_id: tg,
                later,
            };
            replies::record(db, id, settled).await?;
            tracing::info!(message_id = %id, outcome = state, "consultation reply");
        }
        Ok(n)
    }

    /// Sends one claimed reply (no transaction open).
    async fn send(
        &self,
        (id, conversation, body, copy_of): replies::Claimed,
    ) -> anyhow::Result<Outcome> {
        type Row = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Uuid, Option<i64>);
        let row: Option<Row> = sqlx::query_as(
            "SELECT c.data_key, p.data_key, p.chat_ct, p.id, c.staff_thread_id
             FROM conversations c JOIN consultation_people p ON p.id = c.person_id
             WHERE c.id = $1 AND c.channel = 'telegram'",
        )
        .bind(conversation)
        .fetch_optional(&self.infra.db)
        .await?;
        let Some((ckey, pkey, Some(chat_ct), person, thread)) = row else {
            anyhow::bail!("conversation erased or not on Telegram");
        };
        let ckey = self.keys.unwrap_data_key(&ckey)?;
        let pkey = self.keys.unwrap_data_key(&pkey)?;
        let chat = pkey.open_string(&chat_ct, &person_aad(person))?;
        let chat_id: i64 = chat.parse()?;
        let c = &self.infra.config.consultations;
        let text = body
            .map(|b| ckey.open_string(&b, &message_aad(conversation, id, "body")))
            .transpose()?;
        let (method, params) = match copy_of {
            Some(message_id) => (
                "copyMessage",
                json!({"chat_id": chat_id, "from_chat_id": group_param(&c.staff_group),
                       "message_id": message_id, "protect_content": c.protect_content}),
            ),
            None => (
                "sendMessage",
                json!({"chat_id": chat_id, "text": text.clone().unwrap_or_default(),
                       "parse_mode": "HTML", "protect_content": c.protect_content,
                       "link_preview_options": {"is_disabled": true}}),
            ),
        };
        let result = outcome(
            self.telegram
                .call_as(Class::Reply, &chat_id.to_string(), method, &params, true)
                .await,
        );
        // The console's reply, shown in the staff topic too (best effort),
        // only while front's last check found the group private (a public
        // group is readable by anyone: see front's staff_group).
        if let (Outcome::Sent(_), None, Some(thread), Some(text)) =
            (&result, copy_of, thread, &text)
            && let Some(group) = nasvyazi_shared::config::staff_group_id(&c.staff_group)
            && sqlx::query_scalar::<_, bool>(
                "SELECT NOT public FROM staff_group_state WHERE group_id = $1",
            )
            .bind(group)
            .fetch_optional(&self.infra.db)
            .await?
                == Some(true)
        {
            let html = format!(
                "{}\n{text}",
                escape(&nasvyazi_shared::i18n::t(
                    Lang::Ru,
                    "consult.staff_reply_from_console"
                ))
            );
            let params = json!({"chat_id": group_param(&c.staff_group), "message_thread_id": thread,
                                "text": html, "parse_mode": "HTML"});
            if let Err(e) = self
                .telegram
                .call_as(
                    Class::Alert,
                    c.staff_group.trim(),
                    "sendMessage",
                    &params,
                    true,
                )
                .await
            {
                tracing::warn!(conversation_id = %conversation, error = %e, "reply not mirrored to the staff topic");
            }
        }
        Ok(result)
    }
}

/// A chat as the Bot API takes it: a number, or `@name`.
fn group_param(chat: &str) -> Value {
    match chat.trim().parse::<i64>() {
        Ok(id) => json!(id),
        Err(_) => json!(chat.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sent_not_sent_and_perhaps_sent() {
        let refused = |code: u16| {
            outcome(Err(ApiError::Refused {
                code,
                description: "d".into(),
                retry_after: None,
            }))
        };
        assert!(matches!(
            outcome(Ok(json!({"message_id": 5}))),
            Outcome::Sent(Some(5))
        ));
        assert!(matches!(refused(429), Outcome::Later(..)));
        assert!(matches!(refused(403), Outcome::Failed(_)));
        assert!(matches!(refused(400), Outcome::Failed(_)));
        assert!(matches!(refused(401), Outcome::Later(..)));
        assert!(matches!(refused(502), Outcome::Unknown(_)));
        assert!(matches!(
            outcome(Err(ApiError::Transport(
                "error sending request: client error (Connect)".into()
            ))),
            Outcome::Later(..)
        ));
        assert!(matches!(
            outcome(Err(ApiError::Transport("operation timed out".into()))),
            Outcome::Unknown(_)
        ));
    }
}
