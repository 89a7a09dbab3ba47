//! The person's own account: the interface language, the password, the
//! TOTP second factor (set up by typing a code from the app, turned off
//! only with a code), and "sign out everywhere". Every change is audited.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect};
use chrono::Utc;
use nasvyazi_shared::auth;
use nasvyazi_shared::i18n::Lang;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::page::{Form, PageResult, done, notice, render_status};
use super::session::{self, Session};
use super::{totp, users};
use crate::AppState;

/// `POST /admin/language`: the person's language, kept on their account.
pub async fn language(State(state): State<AppState>, s: Session, body: Bytes) -> PageResult {
    let form = Form::checked(&s, &body)?;
    let lang = Lang::parse(form.get("lang")).unwrap_or(s.user.lang);
    let mut tx = state.infra.db.begin().await?;
    sqlx::query("UPDATE console_users SET language = $2, updated_at = now() WHERE id = $1")
        .bind(s.user.id)
        .bind(lang.code())
        .execute(&mut *tx)
        .await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "user.language",
        Some(&s.user.id.to_string()),
        serde_json::json!({ "language": lang.code() }),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to(&page_of(form.get("back"))).into_response())
}

/// Where the language switch goes back to: the page the person was on,
/// only a path of ours, and for a page shown after a form (whose address
/// takes only POST) the page the form belongs to.
fn page_of(back: &str) -> String {
    if !back.starts_with("/admin") || back.starts_with("//") || back.contains('\\') {
        return "/admin".into();
    }
    let path = back.split(['?', '#']).next().unwrap_or("/admin");
    let query = back
        .split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter(|p| !p.starts_with("done="))
                .collect::<Vec<_>>()
                .join("&")
        })
        .unwrap_or_default();
    const POST_ONLY: &[&str] = &[
        "import",
        "find",
        "act",
        "password",
        "totp",
        "action",
        "resolve",
        "note",
        "status",
        "forward",
        "sign-out-everywhere",
    ];
    match path.rsplit_once('/') {
        Some(("/admin/letters", "new")) => "/admin/letters".into(),
        Some((parent, "disable")) if parent.starts_with("/admin/users/") => "/admin/users".into(),
        Some((parent, last)) if POST_ONLY.contains(&last) => parent.to_string(),
        _ if query.is_empty() => path.to_string(),
        _ => format!("{path}?{query}"),
    }
}

#[derive(Deserialize)]
pub struct DoneQuery {
    pub done: Option<String>,
}

/// `GET /admin/account`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    account_page(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

async fn account_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    error: Option<&str>,
) -> PageResult {
    let (has_password, sessions): (bool, i64) = sqlx::query_as(
        "SELECT u.password_hash IS NOT NULL,
                (SELECT count(*) FROM console_sessions s WHERE s.user_id = u.id AND s.stage = 'full' AND s.expires_at > now())
         FROM console_users u WHERE u.id = $1",
    )
    .bind(s.user.id)
    .fetch_one(&state.infra.db)
    .await?;
    // A secret being set up is shown until it is confirmed or replaced.
    let pending = users::totp_secret(&state.infra.db, &state.keys, s.user.id, true).await?;
    let setup = pending.map(|(secret, _)| {
        minijinja::context! {
            grouped => totp::grouped(&secret),
            uri => totp::otpauth_uri(&secret, &state.infra.config.organisation.name, &s.user.name),
        }
    });
    Ok(render_status(
        state,
        s,
        uri,
        "account",
        "console/account.html",
        status,
        minijinja::context! {
            notice, error, has_password, sessions, setup,
            has_totp => s.user.has_totp,
            min_password => users::MIN_PASSWORD,
        },
    ))
}

/// `POST /admin/account/password`: a new password (the current one needed
/// if there is one); every other session ends.
pub async fn password(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    let form = Form::checked(&s, &body)?;
    let current = Zeroizing::new(form.raw("current").to_string());
    let new = Zeroizing::new(form.raw("new").to_string());
    let again = Zeroizing::new(form.raw("again").to_string());
    let hash: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM console_users WHERE id = $1")
            .bind(s.user.id)
            .fetch_one(&state.infra.db)
            .await?;
    // While the account is locked the current password is not even tried
    // (a stolen session cannot guess it past the lock).
    let mut tx = state.infra.db.begin().await?;
    let locked = users::lock_row(&mut tx, s.user.id).await?;
    let wrong = hash.is_some() && (locked || !users::verify_blocking(hash, current).await);
    if wrong {
        users::record_failure(&mut tx, s.user.id).await?;
    }
    tx.commit().await?;
    let error = if wrong {
        Some("console.account.password_wrong")
    } else if !users::valid_password(&new) {
        Some("console.account.password_short")
    } else if *new != *again {
        Some("console.account.password_mismatch")
    } else {
        None
    };
    if let Some(error) = error {
        return account_page(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(error),
        )
        .await;
    }
    let hash = users::hash_bounded(new)
        .await
        .ok_or_else(|| anyhow::anyhow!("argon2: too many hashes waiting"))??;
    let mut tx = state.infra.db.begin().await?;
    sqlx::query("UPDATE console_users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(s.user.id)
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    let ended = s.end_others(&mut tx).await?;
    // Links emailed before the change no longer sign in: whoever read the
    // mailbox must not outlive a new password.
    users::revoke_links(&mut tx, s.user.id).await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "user.password",
        Some(&s.user.id.to_string()),
        serde_json::json!({ "sessions_ended": ended }),
    )
    .await?;
    tx.commit().await?;
    Ok(done("/admin/account", "password"))
}

/// `POST /admin/account/totp`: `action` = `start` (a new secret to set
/// up), `confirm` (a code from the app turns it on) or `off` (a code turns
/// it off).
pub async fn totp(State(state): State<AppState>, s: Session, uri: Uri, body: Bytes) -> PageResult {
    let form = Form::checked(&s, &body)?;
    let db = &state.infra.db;
    let now = Utc::now().timestamp().max(0) as u64;
    match form.get("action") {
        "start" => {
            let secret = Zeroizing::new(totp::new_secret());
            let sealed = users::seal_totp(db, &state.keys, s.user.id, &secret).await?;
            sqlx::query(
                "UPDATE console_users SET totp_pending_ct = $2, updated_at = now() WHERE id = $1",
            )
            .bind(s.user.id)
            .bind(sealed)
            .execute(db)
            .await?;
            Ok(Redirect::to("/admin/account#totp").into_response())
        }
        action @ ("confirm" | "off") => {
            let pending = action == "confirm";
            // One code at a time per user, and none while locked.
            let mut tx = db.begin().await?;
            let locked = users::lock_row(&mut tx, s.user.id).await?;
            let step = if locked {
                None
            } else {
                users::totp_secret(db, &state.keys, s.user.id, pending)
                    .await?
                    .and_then(|(secret, last)| totp::verify(&secret, form.get("code"), now, last))
            };
            let Some(step) = step else {
                users::record_failure(&mut tx, s.user.id).await?;
                tx.commit().await?;
                return account_page(
                    &state,
                    &s,
                    &uri,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    Some("console.account.code_wrong"),
                )
                .await;
            };
            if !users::take_step(&mut tx, s.user.id, step).await? {
                return Ok(done("/admin/account", "saved"));
            }
            let sql = if pending {
                "UPDATE console_users SET totp_ct = totp_pending_ct, totp_pending_ct = NULL, updated_at = now() WHERE id = $1"
            } else {
                "UPDATE console_users SET totp_ct = NULL, totp_pending_ct = NULL, updated_at = now() WHERE id = $1"
            };
            sqlx::query(sql).bind(s.user.id).execute(&mut *tx).await?;
            let action = if pending {
                "user.totp_on"
            } else {
                "user.totp_off"
            };
            auth::audit(
                &mut tx,
                &s.principal().actor(),
                Some(s.user.role),
                action,
                Some(&s.user.id.to_string()),
                serde_json::json!({}),
            )
            .await?;
            tx.commit().await?;
            Ok(done(
                "/admin/account",
                if pending { "totp_on" } else { "totp_off" },
            ))
        }
        _ => Ok(Redirect::to("/admin/account").into_response()),
    }
}

/// `POST /admin/account/sign-out-everywhere`: every session of this
/// person ends, this one too.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    s: Session,
    body: Bytes,
) -> PageResult {
    Form::checked(&s, &body)?;
    let mut tx = state.infra.db.begin().await?;
    let n = session::end_all(&mut tx, s.user.id).await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "user.sign_out_everywhere",
        Some(&s.user.id.to_string()),
        serde_json::json!({ "sessions_ended": n }),
    )
    .await?;
    tx.commit().await?;
    let mut res = Redirect::to("/admin/sign-in").into_response();
    session::set(&mut res, None);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::page_of;

    #[test]
    fn the_language_switch_goes_back_to_a_page() {
        assert_eq!(
            page_of("/admin/campaigns/x/texts?lang=kk&done=saved"),
            "/admin/campaigns/x/texts?lang=kk"
        );
        assert_eq!(page_of("/admin/officials/import"), "/admin/officials");
        assert_eq!(page_of("/admin/campaigns/x/action"), "/admin/campaigns/x");
        assert_eq!(page_of("/admin/users/x/disable"), "/admin/users");
        assert_eq!(page_of("/admin/letters/new"), "/admin/letters");
        assert_eq!(page_of("https://evil.example/admin"), "/admin");
        assert_eq!(page_of("//evil.example/admin"), "/admin");
    }
}
