//! Signing in and out: the password (then the TOTP code, if the person set
//! one up), or a one-time link by email (sent by the notifier through the
//! ledger), and sign-out.
//!
//! Every failure gets the same answer, whether the address is known, the
//! password wrong, the account locked or the client address locked, and
//! takes about as long (an unknown address is checked against a decoy
//! hash). Forms before sign-in use the public pages' double-submit CSRF
//! cookie; after, the session's token.

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use nasvyazi_shared::auth;
use nasvyazi_shared::crypto::{random_token, token_hash};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::events::Event;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::outbox::{self, Outbox};
use uuid::Uuid;
use zeroize::Zeroizing;

use super::page::{Form, PageResult, render_bare};
use super::session::{self, Pending, Session};
use super::{totp, users};
use crate::AppState;
use crate::appeals::ClientAddr;
use crate::pages::subscribe::LangQuery;
use crate::pages::{csrf_ok, csrf_token, field, language, parse_form};

/// How long an emailed link works.
pub const LINK_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// At most one link per user this often.
const LINK_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = csrf_token(state, headers);
    let mut res = render_bare(
        state,
        lang,
        "console/sign_in.html",
        status,
        minijinja::context! { csrf, error, notice },
    );
    if let Some(c) = set_cookie {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}

/// `GET /admin/sign-in`.
pub async fn form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(secret) = session::secret(&headers)
        && let Ok(Some(_)) = session::find(&state.infra.db, &secret, "full").await
    {
        return Redirect::to("/admin").into_response();
    }
    let lang = language(q.lang.as_deref(), &headers);
    form_page(&state, &headers, lang, StatusCode::OK, None, None)
}

fn csrf_refused(state: &AppState, lang: Lang) -> Response {
    render_bare(
        state,
        lang,
        "console/problem.html",
        StatusCode::FORBIDDEN,
        minijinja::context! { problem => "csrf" },
    )
}

/// Redirects to `to` with a fresh session cookie.
fn signed_in(to: &str, secret: &str) -> Response {
    let mut res = Redirect::to(to).into_response();
    session::set(&mut res, Some(secret));
    res
}

/// Starts the session a correct first factor earns: `full`, or
/// `second_factor` when the person has TOTP. Audited.
async fn first_factor_passed(
    state: &AppState,
    addr: IpAddr,
    user_id: Uuid,
    has_totp: bool,
    method: &str,
) -> PageResult {
    let mut tx = state.infra.db.begin().await?;
    if has_totp {
        // One waiting session per user: a new one replaces the others, so
        // knowing the password never buys more than one guess at a time.
        // The address's failures are not forgiven before the code.
        session::end_waiting(&mut tx, user_id).await?;
        let secret = session::start(&mut tx, user_id, "second_factor").await?;
        tx.commit().await?;
        return Ok(signed_in("/admin/sign-in/code", &secret));
    }
    let secret = session::start(&mut tx, user_id, "full").await?;
    users::record_success(&mut tx, user_id).await?;
    let actor = format!("user:{user_id}");
    auth::audit(
        &mut tx,
        &actor,
        None,
        "user.sign_in",
        Some(&user_id.to_string()),
        serde_json::json!({ "method": method }),
    )
    .await?;
    tx.commit().await?;
    // Only a complete sign-in forgives the address's failures.
    state.console.throttle.succeeded(addr);
    tracing::info!(user_id = %user_id, method, "console sign-in");
    Ok(signed_in("/admin", &secret))
}

/// `POST /admin/sign-in`: the password.
pub async fn password(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let password = Zeroizing::new(field(&form, "password").unwrap_or("").to_string());
    let account = match EmailAddress::parse(field(&form, "email").unwrap_or("")) {
        Ok(email) => users::find_by_email(&state.infra.db, &state.keys, &email).await?,
        Err(_) => None,
    };
    let address_locked = state.console.throttle.locked(addr);
    // A locked address or account spends no hash (no memory, no CPU: it
    // would be the cheapest flood), but waits as long as one takes, so the
    // answer does not tell a locked account from an unknown address.
    if address_locked || account.as_ref().is_some_and(|a| a.locked()) {
        users::hash_delay().await;
    } else {
        let hash = account
            .as_ref()
            .filter(|_| users::valid_password(&password))
            .and_then(|a| a.password_hash.clone());
        if users::verify_blocking(hash, password).await
            && let Some(a) = account
        {
            return first_factor_passed(&state, addr, a.id, a.has_totp, "password").await;
        }
    }
    state.console.throttle.failed(addr);
    if let Some(a) = account.filter(|a| !a.disabled) {
        let mut tx = state.infra.db.begin().await?;
        users::record_failure(&mut tx, a.id).await?;
        auth::audit(
            &mut tx,
            &format!("user:{}", a.id),
            None,
            "user.sign_in_failed",
            Some(&a.id.to_string()),
            serde_json::json!({ "method": "password" }),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(form_page(
        &state,
        &headers,
        lang,
        StatusCode::UNAUTHORIZED,
        Some("console.sign_in.failed"),
        None,
    ))
}

/// `GET /admin/sign-in/code`: the TOTP code form.
pub async fn code_form(State(state): State<AppState>, Pending(s): Pending) -> Response {
    code_page(&state, &s, StatusCode::OK, None)
}

fn code_page(state: &AppState, s: &Session, status: StatusCode, error: Option<&str>) -> Response {
    render_bare(
        state,
        s.user.lang,
        "console/sign_in_code.html",
        status,
        minijinja::context! { csrf => &s.csrf, error },
    )
}

/// `POST /admin/sign-in/code`: the second factor.
pub async fn code(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Pending(s): Pending,
    body: Bytes,
) -> PageResult {
    let form = Form::checked(&s, &body)?;
    let user_id = s.user.id;
    let now = Utc::now().timestamp().max(0) as u64;
    // The user's row is held until the answer: one code checked (and its
    // failure counted) at a time, and none while the account is locked.
    let mut tx = state.infra.db.begin().await?;
    let locked = users::lock_row(&mut tx, user_id).await?;
    let step = if locked || state.console.throttle.locked(addr) {
        None
    } else {
        users::totp_secret(&state.infra.db, &state.keys, user_id, false)
            .await?
            .and_then(|(secret, last)| totp::verify(&secret, form.get("code"), now, last))
    };
    if let Some(step) = step
        && users::take_step(&mut tx, user_id, step).await?
    {
        session::end_waiting(&mut tx, user_id).await?;
        let secret = session::start(&mut tx, user_id, "full").await?;
        users::record_success(&mut tx, user_id).await?;
        auth::audit(
            &mut tx,
            &s.user.principal().actor(),
            Some(s.user.role),
            "user.sign_in",
            Some(&user_id.to_string()),
            serde_json::json!({ "method": "totp" }),
        )
        .await?;
        tx.commit().await?;
        state.console.throttle.succeeded(addr);
        tracing::info!(user_id = %user_id, "console sign-in with a second factor");
        return Ok(signed_in("/admin", &secret));
    }
    auth::audit(
        &mut tx,
        &s.user.principal().actor(),
        Some(s.user.role),
        "user.sign_in_failed",
        Some(&user_id.to_string()),
        serde_json::json!({ "method": "totp" }),
    )
    .await?;
    let now_locked = users::record_failure(&mut tx, user_id).await?;
    tx.commit().await?;
    state.console.throttle.failed(addr);
    if now_locked || locked {
        // Locked: this half-signed-in session is gone (with every other
        // waiting one).
        s.end(&state.infra.db).await?;
        let mut res = Redirect::to("/admin/sign-in").into_response();
        session::set(&mut res, None);
        return Ok(res);
    }
    Ok(code_page(
        &state,
        &s,
        StatusCode::UNAUTHORIZED,
        Some("console.sign_in.code_failed"),
    ))
}

/// `POST /admin/sign-in/link`: emails a one-time link. The answer is the
/// same whether or not the address belongs to anyone.
pub async fn request_link(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let account = match EmailAddress::parse(field(&form, "email").unwrap_or("")) {
        Ok(email) if !state.console.throttle.locked(addr) => {
            users::find_by_email(&state.infra.db, &state.keys, &email).await?
        }
        _ => None,
    };
    // The link is made after the answer, so the answer takes as long for
    // an address nobody has as for a user's (the work differed by ~0.2 ms).
    if let Some(a) = account.filter(|a| !a.disabled) {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = issue_link(&state, a.id).await {
                tracing::warn!(user_id = %a.id, error = %e, "console sign-in link not issued");
            }
        });
    }
    Ok(form_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        None,
        Some("console.sign_in.link_sent"),
    ))
}

/// Creates a link (at most one a minute per user) and announces it; the
/// notifier sends it.
async fn issue_link(state: &AppState, user_id: Uuid) -> anyhow::Result<()> {
    let mut tx = state.infra.db.begin().await?;
    let (wrapped,): (Vec<u8>,) =
        sqlx::query_as("SELECT data_key FROM console_users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
    let recent: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM console_sign_in_links WHERE user_id = $1 AND created_at > $2)",
    )
    .bind(user_id)
    .bind(Utc::now() - LINK_INTERVAL)
    .fetch_one(&mut *tx)
    .await?;
    if recent {
        return Ok(());
    }
    let key = state
        .keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("console user {user_id}: data key: {e}"))?;
    let id = Uuid::now_v7();
    let token = Zeroizing::new(random_token(32));
    sqlx::query(
        "INSERT INTO console_sign_in_links (id, user_id, token_hash, token_ct, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(user_id)
    .bind(token_hash(&token))
    .bind(key.seal(token.as_bytes(), &link_aad(id)))
    .bind(Utc::now() + LINK_TTL)
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut tx,
        Outbox::Intake,
        Event::ConsoleSignInRequested { link_id: id },
    )
    .await?;
    auth::audit(
        &mut tx,
        &format!("user:{user_id}"),
        None,
        "user.sign_in_link",
        Some(&user_id.to_string()),
        serde_json::json!({ "link_id": id }),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, link_id = %id, "console sign-in link issued");
    Ok(())
}

/// Associated data of a sealed link token (the notifier opens it).
pub fn link_aad(link_id: Uuid) -> Vec<u8> {
    nasvyazi_shared::console::link_aad(link_id)
}

/// `GET /admin/sign-in/link/{token}`: a button, never a sign-in (mail
/// scanners open links).
pub async fn link_page(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    let (csrf, set_cookie) = csrf_token(&state, &headers);
    let token: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let mut res = render_bare(
        &state,
        lang,
        "console/sign_in_link.html",
        StatusCode::OK,
        minijinja::context! { csrf, token, error => None::<&str> },
    );
    if let Some(c) = set_cookie {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}

/// `POST /admin/sign-in/link/{token}`: uses the link (once).
pub async fn link_use(
    State(state): State<AppState>,
    ClientAddr(addr): ClientAddr,
    Query(q): Query<LangQuery>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let used: Option<(Uuid, bool)> = if state.console.throttle.locked(addr) {
        None
    } else {
        sqlx::query_as(
            "WITH l AS (UPDATE console_sign_in_links SET used_at = now()
                        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
                        RETURNING user_id)
             SELECT u.id, u.totp_ct IS NOT NULL FROM l JOIN console_users u ON u.id = l.user_id
             WHERE u.disabled_at IS NULL",
        )
        .bind(token_hash(&token))
        .fetch_optional(&state.infra.db)
        .await?
    };
    match used {
        Some((user_id, has_totp)) => {
            first_factor_passed(&state, addr, user_id, has_totp, "link").await
        }
        None => {
            state.console.throttle.failed(addr);
            let (csrf, _) = csrf_token(&state, &headers);
            Ok(render_bare(
                &state,
                lang,
                "console/sign_in_link.html",
                StatusCode::GONE,
                minijinja::context! { csrf, token => "", error => "console.sign_in.link_invalid" },
            ))
        }
    }
}

/// `POST /admin/sign-out`: ends this session.
pub async fn sign_out(State(state): State<AppState>, s: Session, body: Bytes) -> PageResult {
    Form::checked(&s, &body)?;
    s.end(&state.infra.db).await?;
    let mut tx = state.infra.db.begin().await?;
    auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "user.sign_out",
        Some(&s.user.id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    let mut res = Redirect::to("/admin/sign-in").into_response();
    session::set(&mut res, None);
    Ok(res)
}
