//! The admin's pages: the people who may sign in (create, disable), the
//! audit log, and the settings as configured (channels, bot status, sender
//! limits; secrets only as "set" or "not set").

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use chrono::{DateTime, Utc};
use nasvyazi_shared::auth::{self, Role};
use nasvyazi_shared::config::{EmailTransport, TelegramMode};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use serde::Deserialize;
use uuid::Uuid;

use super::account::DoneQuery;
use super::page::{Form, PageResult, Problem, done, notice, render, render_status};
use super::session::{self, Session};
use super::{users, words};
use crate::AppState;

/// `GET /admin/users`.
pub async fn users(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    s.require(&[])?;
    users_page(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
        None,
    )
    .await
}

async fn users_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    created: Option<minijinja::Value>,
) -> PageResult {
    let tz = chrono_tz::Asia::Almaty;
    let list: Vec<_> = users::list(&state.infra.db)
        .await?
        .into_iter()
        .map(|u| {
            minijinja::context! {
                id => u.id, name => u.name, role => u.role, language => u.language,
                has_password => u.has_password, has_totp => u.has_totp, locked => u.locked,
                disabled => u.disabled, me => u.id == s.user.id,
                last => u.last_sign_in_at.map(|t| words::short(t, tz)),
            }
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "users",
        "console/users.html",
        status,
        minijinja::context! { users => list, notice, error, created, roles => ["organiser", "caseworker", "consultant", "admin"],
        specialities => &state.infra.config.consultations.specialities.iter()
            .map(|x| minijinja::context! { code => x, name => super::conversations::label(s.user.lang, "console.conv.speciality", x) })
            .collect::<Vec<_>>() },
    ))
}

/// `POST /admin/users`: a new person; the generated password is shown
/// once (or, with `link`, they sign in with emailed links).
pub async fn create_user(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    s.require(&[])?;
    let form = Form::checked(&s, &body)?;
    let Ok(email) = EmailAddress::parse(form.get("email")) else {
        return users_page(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("console.users.email_invalid".into()),
            None,
        )
        .await;
    };
    let role = Role::parse(form.get("role")).unwrap_or(Role::Organiser);
    let language = Lang::parse(form.get("language")).unwrap_or(s.user.lang);
    let link_only = form.get("link_only") == "yes";
    let password = (!link_only).then(users::generate_password);
    let mut tx = state.infra.db.begin().await?;
    let created = users::create(
        &mut tx,
        &state.keys,
        &users::NewUser {
            name: form.get("name"),
            email: &email,
            role,
            language,
        },
        password.as_ref().map(|p| p.as_str()),
        &s.principal().actor(),
        Some(s.user.role),
    )
    .await?;
    match created {
        Ok(id) => {
            // What a consultation can be referred to them for (optional).
            let speciality = form.get("speciality");
            if state
                .infra
                .config
                .consultations
                .specialities
                .iter()
                .any(|x| x == speciality)
            {
                sqlx::query("UPDATE console_users SET speciality = $2 WHERE id = $1")
                    .bind(id)
                    .bind(speciality)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            let shown = minijinja::context! {
                name => form.get("name"), password => password.as_ref().map(|p| p.to_string()),
            };
            users_page(&state, &s, &uri, StatusCode::OK, None, None, Some(shown)).await
        }
        Err(refused) => {
            let key = match refused {
                users::Refused::Name => "console.users.name_invalid",
                users::Refused::Duplicate => "console.users.duplicate",
                users::Refused::Password => "console.users.name_invalid",
            };
            users_page(
                &state,
                &s,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(key.into()),
                None,
            )
            .await
        }
    }
}

/// `POST /admin/users/{id}/disable`: the person can no longer sign in;
/// their sessions end. (Not oneself.)
pub async fn disable_user(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(&[])?;
    Form::checked(&s, &body)?;
    if id == s.user.id {
        return Err(Problem::Forbidden);
    }
    let mut tx = state.infra.db.begin().await?;
    let n = sqlx::query(
        "UPDATE console_users SET disabled_at = now(), updated_at = now() WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        return Err(Problem::NotFound);
    }
    session::end_all(&mut tx, id).await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "user.disable",
        Some(&id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(done("/admin/users", "user_disabled"))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub before: Option<i64>,
}

/// `GET /admin/audit`: newest first, 100 a page, filtered by action prefix.
pub async fn audit(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    s.require(&[])?;
    type Row = (
        i64,
        DateTime<Utc>,
        String,
        Option<String>,
        String,
        Option<String>,
        serde_json::Value,
    );
    let prefix: String = q
        .action
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '.' || *c == '_')
        .take(60)
        .collect();
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, at, actor, actor_role, action, target, details FROM audit_log
         WHERE ($1 = '' OR action LIKE $1 || '%') AND ($2::bigint IS NULL OR id < $2)
         ORDER BY id DESC LIMIT 100",
    )
    .bind(&prefix)
    .bind(q.before)
    .fetch_all(&state.infra.db)
    .await?;
    // Actors as names where they are console users (ids stay in the log).
    let names: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, name FROM console_users")
        .fetch_all(&state.infra.db)
        .await?;
    let tz = chrono_tz::Asia::Almaty;
    let last = rows.last().map(|r| r.0);
    let items: Vec<_> = rows
        .into_iter()
        .map(|(id, at, actor, role, action, target, details)| {
            let who = actor
                .strip_prefix("user:")
                .and_then(|u| u.parse::<Uuid>().ok())
                .and_then(|u| names.iter().find(|(i, _)| *i == u))
                .map(|(_, n)| n.clone());
            let details = if details.as_object().is_some_and(|o| o.is_empty()) {
                None
            } else {
                Some(details.to_string())
            };
            minijinja::context! {
                id, at => words::short(at, tz), actor, who, role, action, target, details,
            }
        })
        .collect();
    Ok(render(
        &state,
        &s,
        &uri,
        "audit",
        "console/audit.html",
        minijinja::context! { items, action => prefix, older => last },
    ))
}

/// `GET /admin/settings`.
pub async fn settings(State(state): State<AppState>, s: Session, uri: Uri) -> PageResult {
    s.require(&[])?;
    let c = &state.infra.config;
    let bot = match &state.telegram {
        None => None,
        Some(bot) => {
            let me = bot
                .api()
                .call_with_timeout("getMe", &serde_json::json!({}), Duration::from_secs(3))
                .await;
            let bot_id = bot.api().bot_id().to_string();
            let leases: Vec<(String, DateTime<Utc>)> = sqlx::query_as(
                "SELECT name, expires_at FROM leases WHERE name IN ($1, $2) AND expires_at > now()",
            )
            .bind(format!("telegram-send:{bot_id}"))
            .bind(format!("telegram-poll:{bot_id}"))
            .fetch_all(&state.infra.db)
            .await?;
            Some(minijinja::context! {
                ok => me.is_ok(),
                username => me.as_ref().ok().and_then(|v| v["username"].as_str().map(str::to_string)),
                error => me.as_ref().err().map(|e| e.to_string()),
                sender => leases.iter().any(|(n, _)| n.starts_with("telegram-send:")),
                poller => leases.iter().any(|(n, _)| n.starts_with("telegram-poll:")),
            })
        }
    };
    let (queued, failed_day): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status IN ('queued', 'retry', 'sending')),
                count(*) FILTER (WHERE status = 'failed' AND updated_at > now() - interval '1 day')
         FROM deliveries",
    )
    .fetch_one(&state.infra.db)
    .await?;
    let (mail_checks, (bounce_rows, bounce_suppressed)) = (
        super::mail_check::checks(c).await,
        super::mail_check::bounces(&state.infra.db).await?,
    );
    let email = minijinja::context! {
        transport => match c.email.transport { EmailTransport::Outbox => "outbox", EmailTransport::Smtp => "smtp" },
        from => &c.email.from,
        outbox_dir => c.email.outbox_dir.display().to_string(),
        pool_size => c.email.pool_size,
        max_per_second => c.email.max_per_second,
        max_per_domain_per_minute => c.email.max_per_domain_per_minute,
        timeout_secs => c.email.timeout_secs,
        dkim => c.email.dkim_private_key.is_some() && !c.email.dkim_selector.is_empty(),
        unsubscribe_mailto => !c.email.unsubscribe_mailto.is_empty(),
    };
    let telegram = minijinja::context! {
        token => c.telegram.token.is_some(),
        mode => match c.telegram.mode { TelegramMode::Polling => "polling", TelegramMode::Webhook => "webhook" },
        channel => &c.telegram.channel,
        staff_chat => !c.telegram.staff_chat.is_empty(),
        max_per_second => c.telegram.max_per_second,
        private_chat_interval_ms => c.telegram.private_chat_interval_ms,
        group_per_minute => c.telegram.group_per_minute,
        api_base => &c.telegram.api_base,
    };
    Ok(render(
        &state,
        &s,
        &uri,
        "settings",
        "console/settings.html",
        minijinja::context! {
            email, telegram, bot, queued, failed_day,
            mail_checks, bounce_rows, bounce_suppressed,
            organisation => minijinja::context! { name => &c.organisation.name, contact => &c.organisation.contact, public_url => &c.http.public_url },
            campaigns => &c.campaigns,
            appeals => minijinja::context! {
                retention_days => c.appeals.retention_days,
                rate_limit_per_minute => c.appeals.rate_limit_per_minute,
                staff_email => !c.appeals.staff_email.is_empty(),
            },
            letters => &c.letters,
            notifier => minijinja::context! {
                batch_size => c.notifier.batch_size, concurrency => c.notifier.concurrency,
                max_attempts => c.notifier.max_attempts,
            },
        },
    ))
}
