//! Signing in and out: the password (then the TOTP code, if the person set
//! one up), or a one-time link by email (sent by the notifier through the
//! ledger), and sign-out.
//!
//! Every failure gets the same answer, whether the address is known, the
//! password wrong, the account locked or the client address locked, and
//! does the same work: an unknown address is checked against a decoy hash
//! (one argon2 verification either way) and runs the same statements as a
//! known one, whose writes are rolled back (see [`statements`]).
//!
//! Forms before sign-in carry a token the server minted (a nonce and its
//! HMAC), held in a `__Host-` cookie (`Secure`, `Path=/`, no `Domain`,
//! `HttpOnly`, `SameSite=Strict`: no sibling host or plain-HTTP answer
//! can set it); the form's token must equal the cookie's, and a POST whose
//! `Origin` (or, without one, `Referer`) is not the console's own origin
//! (`console.url`) is refused. After sign-in, the session's token.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use nasvyazi_shared::auth;
use nasvyazi_shared::crypto::{random_token, token_hash};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::events::Event;
use nasvyazi_shared::i18n::Lang;
use nasvyazi_shared::outbox::{self, Outbox};
use sqlx::PgConnection;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::page::{Form, PageResult, render_bare};
use super::session::{self, Pending, Session};
use super::{totp, users};
use crate::AppState;
use crate::limits::ClientIp as ClientAddr;
use crate::pages::subscribe::LangQuery;
use crate::pages::{field, language, parse_form};

/// How long an emailed link works.
pub const LINK_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// At most one link per user this often.
const LINK_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

/// The cookie of the forms before sign-in.
pub const PRE_COOKIE: &str = crate::csrf::SIGN_IN.cookie;

static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// How many SQL statements the sign-in paths (password, link request) ran
/// in this process: what the tests compare between a known and an unknown
/// address.
pub fn statements() -> u64 {
    STATEMENTS.load(Relaxed)
}

fn count(n: u64) {
    STATEMENTS.fetch_add(n, Relaxed);
}

/// A token for the forms before sign-in (`crate::csrf::SIGN_IN`).
fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    crate::csrf::SIGN_IN.token(state, headers)
}

/// The console's own origin (`scheme://host[:port]` of `console.url`).
fn own_origin(state: &AppState) -> String {
    let base = state.infra.config.console_base();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split('/').next().unwrap_or(rest);
            format!(
                "{}://{}",
                scheme.to_ascii_lowercase(),
                host.to_ascii_lowercase()
            )
        }
        None => base.to_string(),
    }
}

/// A POST from the console's own pages: `Origin` must be the console's
/// origin; without one, `Referer` must be on it. Browsers send
/// `Origin: null` from our own pages (every response says
/// `Referrer-Policy: no-referrer`), and from opaque origins (a sandboxed
/// frame) whose requests are cross-site and so never carry the
/// `SameSite=Strict` cookie: `null`, like no header at all, leaves the
/// decision to the cookie and the token.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let own = own_origin(state);
    if let Some(o) = headers
        .get(axum::http::header::ORIGIN)
        .filter(|o| o.as_bytes() != b"null")
    {
        return o.to_str().is_ok_and(|o| o.eq_ignore_ascii_case(&own));
    }
    if let Some(r) = headers.get(axum::http::header::REFERER) {
        return r.to_str().is_ok_and(|r| {
            r.len() >= own.len()
                && r[..own.len()].eq_ignore_ascii_case(&own)
                && matches!(r.as_bytes().get(own.len()), None | Some(b'/'))
        });
    }
    true
}

/// Whether a form posted before sign-in is our own: the same origin, and
/// the posted token equal to the cookie's, which the server made.
fn csrf_ok(state: &AppState, headers: &HeaderMap, posted: Option<&str>) -> bool {
    same_origin(state, headers) && crate::csrf::SIGN_IN.ok(state, headers, posted)
}

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

/// The cookie that marks a browser where the person completed a sign-in
/// (a device cookie, as OWASP recommends against lock-out abuse): the
/// account's lock, which anyone who knows the address can set off with
/// wrong passwords, does not apply to it. The per-address throttle does.
pub const DEVICE_COOKIE: &str = "__Host-nsv_device";
/// How long a browser stays known.
const DEVICE_TTL: chrono::Duration = chrono::Duration::days(90);

/// `<user>.<expiry>.<mac>`: nothing stored; only the server can make one.
fn device_token(state: &AppState, user_id: Uuid) -> String {
    let expires = (Utc::now() + DEVICE_TTL).timestamp();
    let payload = format!("{user_id}.{expires}");
    let mac = state.keys.opaque_id("console-device", &payload);
    format!("{payload}.{mac}")
}

/// Adds the device cookie for `user_id` to a response.
fn set_device(state: &AppState, res: &mut Response, user_id: Uuid) {
    let v = format!(
        "{DEVICE_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        device_token(state, user_id),
        DEVICE_TTL.num_seconds()
    );
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, v);
    }
}

/// Whether the request comes from a browser where `user_id` signed in.
pub fn known_device(state: &AppState, headers: &HeaderMap, user_id: Uuid) -> bool {
    let Some(t) = crate::pages::cookie(headers, DEVICE_COOKIE) else {
        return false;
    };
    let Some((payload, mac)) = t.rsplit_once('.') else {
        return false;
    };
    let Some((user, expires)) = payload.split_once('.') else {
        return false;
    };
    super::ct_eq(
        mac.as_bytes(),
        state.keys.opaque_id("console-device", payload).as_bytes(),
    ) && user == user_id.to_string()
        && expires
            .parse::<i64>()
            .is_ok_and(|e| e > Utc::now().timestamp())
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
    let mut res = signed_in("/admin", &secret);
    set_device(state, &mut res, user_id);
    Ok(res)
}

/// `POST /admin/sign-in`: the password.
pub async fn password(
    State(state): State<AppState>,
    ClientAddr { addr, .. }: ClientAddr,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let password = Zeroizing::new(field(&form, "password").unwrap_or("").to_string());
    // The same look-up for any address (an unparsable one looks up a
    // blind index nobody has).
    let email = EmailAddress::parse(field(&form, "email").unwrap_or("")).ok();
    count(1);
    let account = users::find_by_bi(&state.infra.db, &lookup_bi(&state, email.as_ref())).await?;
    let address_locked = state.console.throttle.locked(addr);
    // A locked address or account spends no hash (no memory, no CPU: it
    // would be the cheapest flood), but waits as long as one takes, so the
    // answer does not tell a locked account from an unknown address.
    // The account's lock does not hold in a browser where the person
    // signed in before: strangers cannot lock its owner out.
    let account_locked = account
        .as_ref()
        .is_some_and(|a| a.disabled || (a.locked() && !known_device(&state, &headers, a.id)));
    if address_locked || account_locked {
        users::hash_delay().await;
    } else {
        // An unknown address (or one without a password) is verified
        // against the decoy hash: one argon2 verification either way.
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
    record_failed_password(&state, account.filter(|a| !a.disabled).map(|a| a.id)).await?;
    Ok(form_page(
        &state,
        &headers,
        lang,
        StatusCode::UNAUTHORIZED,
        Some("console.sign_in.failed"),
        None,
    ))
}

/// The blind index looked up for a posted address; for an unparsable one,
/// the index of an address nobody can have (same work, no match).
fn lookup_bi(state: &AppState, email: Option<&EmailAddress>) -> Vec<u8> {
    match email {
        Some(e) => users::email_bi(&state.keys, e),
        None => state
            .keys
            .blind_index(users::BLIND_KIND, "\u{0}not-an-address"),
    }
}

/// Counts a wrong password against the account, audited. For an unknown
/// address the same statements run (on an id no row has) and the
/// transaction is rolled back: the database does the same work.
async fn record_failed_password(
    state: &AppState,
    user: Option<Uuid>,
) -> Result<(), super::page::Problem> {
    let id = user.unwrap_or_else(Uuid::now_v7);
    let mut tx = state.infra.db.begin().await?;
    count(3);
    let now_locked = users::record_failure(&mut tx, id).await?;
    auth::audit(
        &mut tx,
        &format!("user:{id}"),
        None,
        "user.sign_in_failed",
        Some(&id.to_string()),
        serde_json::json!({ "method": "password" }),
    )
    .await?;
    if user.is_some() {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    if now_locked {
        send_unlock(state, id);
    }
    Ok(())
}

/// How long an emailed unlock link works.
pub const UNLOCK_TTL: chrono::Duration = chrono::Duration::hours(1);

/// Emails the person a link that lifts the lock (after the answer; at most
/// one an hour, however often strangers set the lock off).
fn send_unlock(state: &AppState, user_id: Uuid) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = issue_unlock(&state, user_id).await {
            tracing::warn!(user_id = %user_id, error = %e, "console unlock link not issued");
        }
    });
}

async fn issue_unlock(state: &AppState, user_id: Uuid) -> anyhow::Result<()> {
    let mut tx = state.infra.db.begin().await?;
    let (wrapped,): (Vec<u8>,) = sqlx::query_as(
        "SELECT data_key FROM console_users WHERE id = $1 AND disabled_at IS NULL FOR UPDATE",
    )
    .bind(user_id)
    .fetch_one(&mut *tx)
    .await?;
    if issued_since(&mut tx, user_id, Purpose::Unlock, UNLOCK_TTL).await? {
        return Ok(());
    }
    let key = state
        .keys
        .unwrap_data_key(&wrapped)
        .map_err(|e| anyhow::anyhow!("console user {user_id}: data key: {e}"))?;
    let id = write_link(&mut tx, &key, user_id, Purpose::Unlock).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, link_id = %id, "console unlock link issued");
    Ok(())
}

/// What an emailed link does: sign in, or lift a lock.
#[derive(Clone, Copy)]
enum Purpose {
    SignIn,
    Unlock,
}

impl Purpose {
    /// The row's `purpose`, which tells the notifier which email to send.
    fn stored(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::Unlock => "unlock",
        }
    }

    fn ttl(self) -> chrono::Duration {
        match self {
            Purpose::SignIn => LINK_TTL,
            Purpose::Unlock => UNLOCK_TTL,
        }
    }

    fn audited(self) -> &'static str {
        match self {
            Purpose::SignIn => "user.sign_in_link",
            Purpose::Unlock => "user.unlock_link",
        }
    }
}

/// Whether a link of `purpose` went to the user within `interval`.
async fn issued_since(
    tx: &mut PgConnection,
    user_id: Uuid,
    purpose: Purpose,
    interval: chrono::Duration,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM console_sign_in_links
                        WHERE user_id = $1 AND purpose = $2 AND created_at > $3)",
    )
    .bind(user_id)
    .bind(purpose.stored())
    .bind(Utc::now() - interval)
    .fetch_one(tx)
    .await
}

/// Writes a link of `purpose` for the user (its token sealed under `key`),
/// announces it (the notifier sends what the row's purpose says) and
/// audits it. For an id no user has, the row is not written (the caller
/// rolls back the rest). The link's id.
async fn write_link(
    tx: &mut PgConnection,
    key: &nasvyazi_shared::crypto::Key,
    user_id: Uuid,
    purpose: Purpose,
) -> anyhow::Result<Uuid> {
    let id = Uuid::now_v7();
    let token = Zeroizing::new(random_token(32));
    sqlx::query(
        "INSERT INTO console_sign_in_links (id, user_id, token_hash, token_ct, expires_at, purpose)
         SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM console_users WHERE id = $2)",
    )
    .bind(id)
    .bind(user_id)
    .bind(token_hash(&token))
    .bind(key.seal(token.as_bytes(), &link_aad(id)))
    .bind(Utc::now() + purpose.ttl())
    .bind(purpose.stored())
    .execute(&mut *tx)
    .await?;
    outbox::enqueue(
        &mut *tx,
        Outbox::Front,
        Event::ConsoleSignInRequested { link_id: id },
    )
    .await?;
    auth::audit(
        tx,
        &format!("user:{user_id}"),
        None,
        purpose.audited(),
        Some(&user_id.to_string()),
        serde_json::json!({ "link_id": id }),
    )
    .await?;
    Ok(id)
}

/// `GET /admin/unlock/{token}`: a button (mail scanners open links).
pub async fn unlock_page(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    token_page(&state, &q, &headers, &token, "console/unlock.html")
}

/// `POST /admin/unlock/{token}`: uses the unlock link (once): the lock and
/// the failures are gone, and this browser is known (the lock never holds
/// in it again). It signs no one in.
pub async fn unlock_use(
    State(state): State<AppState>,
    ClientAddr { addr, .. }: ClientAddr,
    Query(q): Query<LangQuery>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let mut tx = state.infra.db.begin().await?;
    let user: Option<Uuid> = if state.console.throttle.locked(addr) {
        None
    } else {
        sqlx::query_scalar(
            "UPDATE console_sign_in_links SET used_at = now()
             WHERE token_hash = $1 AND purpose = 'unlock' AND used_at IS NULL AND expires_at > now()
             RETURNING user_id",
        )
        .bind(token_hash(&token))
        .fetch_optional(&mut *tx)
        .await?
    };
    let Some(user_id) = user else {
        tx.rollback().await?;
        state.console.throttle.failed(addr);
        let (csrf, _) = csrf_token(&state, &headers);
        return Ok(render_bare(
            &state,
            lang,
            "console/unlock.html",
            StatusCode::GONE,
            minijinja::context! { csrf, token => "", error => "console.sign_in.link_invalid" },
        ));
    };
    sqlx::query(
        "UPDATE console_users SET locked_until = NULL, failed_attempts = 0, updated_at = now()
         WHERE id = $1",
    )
    .bind(user_id)
    .execute(&mut *tx)
    .await?;
    auth::audit(
        &mut tx,
        &format!("user:{user_id}"),
        None,
        "user.unlock",
        Some(&user_id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, "console account unlocked by an emailed link");
    let mut res = Redirect::to(&format!("/admin/sign-in?lang={}", lang.code())).into_response();
    set_device(&state, &mut res, user_id);
    Ok(res)
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
    ClientAddr { addr, .. }: ClientAddr,
    headers: HeaderMap,
    Pending(s): Pending,
    body: Bytes,
) -> PageResult {
    let form = Form::checked(&s, &body)?;
    let user_id = s.user.id;
    let now = Utc::now().timestamp().max(0) as u64;
    // The user's row is held until the answer: one code checked (and its
    // failure counted) at a time, and none while the account is locked.
    let mut tx = state.infra.db.begin().await?;
    let locked = users::lock_row(&mut tx, user_id).await?
        && (users::is_disabled(&mut tx, user_id).await?
            || !known_device(&state, &headers, user_id));
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
        let mut res = signed_in("/admin", &secret);
        set_device(&state, &mut res, user_id);
        return Ok(res);
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
    if now_locked {
        send_unlock(&state, user_id);
    }
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
    ClientAddr { addr, .. }: ClientAddr,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    // The same look-up, and the same work after the answer, for any
    // address: an unknown one runs the link's statements and rolls them
    // back.
    if !state.console.throttle.locked(addr) {
        let email = EmailAddress::parse(field(&form, "email").unwrap_or("")).ok();
        count(1);
        let account =
            users::find_by_bi(&state.infra.db, &lookup_bi(&state, email.as_ref())).await?;
        let user = account.filter(|a| !a.disabled).map(|a| a.id);
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = issue_link(&state, user).await {
                tracing::warn!(error = %e, "console sign-in link not issued");
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
/// notifier sends it. For `None` (an unknown address) the same statements
/// run on an id no row has, and are rolled back.
async fn issue_link(state: &AppState, user: Option<Uuid>) -> anyhow::Result<()> {
    let user_id = user.unwrap_or_else(Uuid::now_v7);
    let mut tx = state.infra.db.begin().await?;
    count(2);
    let wrapped: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT data_key FROM console_users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if issued_since(&mut tx, user_id, Purpose::SignIn, LINK_INTERVAL).await? {
        return Ok(());
    }
    let key = match (&user, wrapped) {
        (Some(_), Some(wrapped)) => state
            .keys
            .unwrap_data_key(&wrapped)
            .map_err(|e| anyhow::anyhow!("console user {user_id}: data key: {e}"))?,
        _ => nasvyazi_shared::crypto::Key::random(),
    };
    count(3);
    let id = write_link(&mut tx, &key, user_id, Purpose::SignIn).await?;
    if user.is_none() {
        tx.rollback().await?;
        return Ok(());
    }
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
    token_page(&state, &q, &headers, &token, "console/sign_in_link.html")
}

/// `POST /admin/sign-in/link/{token}`: uses the link (once).
pub async fn link_use(
    State(state): State<AppState>,
    ClientAddr { addr, .. }: ClientAddr,
    Query(q): Query<LangQuery>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult {
    let lang = language(q.lang.as_deref(), &headers);
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return Ok(csrf_refused(&state, lang));
    }
    let used: Option<(Uuid, bool)> = if state.console.throttle.locked(addr) {
        None
    } else {
        sqlx::query_as(
            "WITH l AS (UPDATE console_sign_in_links SET used_at = now()
                        WHERE token_hash = $1 AND purpose = 'sign_in' AND used_at IS NULL
                          AND expires_at > now()
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

/// The page behind an emailed link (sign-in or unlock): a button that
/// posts the token back, with a fresh CSRF cookie. Nothing is used on GET,
/// so mail scanners that open links change nothing.
fn token_page(
    state: &AppState,
    q: &LangQuery,
    headers: &HeaderMap,
    token: &str,
    template: &str,
) -> Response {
    let lang = language(q.lang.as_deref(), headers);
    let (csrf, set_cookie) = csrf_token(state, headers);
    let token: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let mut res = render_bare(
        state,
        lang,
        template,
        StatusCode::OK,
        minijinja::context! { csrf, token, error => None::<&str> },
    );
    if let Some(c) = set_cookie {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    res
}
