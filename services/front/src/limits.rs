//! Anti-abuse on the public listener (state in PostgreSQL, see
//! `shared::limits`): the client address every limiter uses, the
//! per-client budget of public POSTs, and the per-address budget of
//! confirmation emails.
//!
//! Refusals are the same bytes whoever asks and whatever the address's
//! state: a per-client refusal is a 429 with a fixed `Retry-After`; a
//! per-address refusal is not visible at all (the form answers as if the
//! email were on its way). It must never log a client address, an email
//! address or a limiter key.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nasvyazi_shared::error::{ErrorBody, ErrorDetail};
use nasvyazi_shared::limits::{self, Budget};
use sqlx::PgPool;

use crate::AppState;

/// The client's address as [`limits::client_addr`] defines it (the peer,
/// or the forwarded address when the peer is in `http.trusted_proxies`).
/// Without a peer address (a router called directly) every request shares
/// one bucket. Through the onion address every request comes from the Tor
/// daemon's one local address: such a client is [`ClientIp::onion`], and
/// per-client budgets do not apply to it (proof of work does, always).
pub struct ClientIp {
    pub addr: IpAddr,
    /// The request came through `http.onion_url`.
    pub onion: bool,
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp {
            addr: client_ip(parts, state),
            onion: crate::pages::via_onion(state, &parts.headers),
        })
    }
}

tokio::task_local! {
    /// Whether the request being handled came through the onion address
    /// (set by [`public_posts`] for every request on the public listener):
    /// its forms always carry a proof-of-work challenge.
    static VIA_ONION: bool;
}

/// Whether the request being handled came through the onion address.
pub fn onion_request() -> bool {
    VIA_ONION.try_with(|v| *v).unwrap_or(false)
}

fn client_ip(parts: &Parts, state: &AppState) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    limits::client_addr(peer, &parts.headers, &state.trusted_proxies)
}

/// Every POST on the public listener (pages and API) spends one of the
/// client's `limits.public_posts_per_minute`; the Telegram webhook is
/// exempt (Telegram is one client, authenticated by its secret). When the
/// database cannot answer, the request goes on: the global email budget
/// still bounds what it can cost. Then, while proof of work is asked for,
/// the forms and APIs that start something (see [`pow_path`]) must
/// present a solved challenge.
///
/// Through the onion address (`http.onion_url`) every client shares the Tor
/// daemon's address, so no per-client budget applies there; instead every
/// public POST that is not a token link must present a proof of work,
/// whatever `limits.proof_of_work` says. Survey answers always need one
/// (padding a survey's published counts must cost something).
pub async fn public_posts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let onion = crate::pages::via_onion(&state, req.headers());
    VIA_ONION
        .scope(onion, guard_posts(state, req, next, onion))
        .await
}

async fn guard_posts(state: AppState, req: Request, next: Next, onion: bool) -> Response {
    let path = req.uri().path().to_string();
    let path = path.as_str();
    if req.method() != Method::POST || path == crate::bot::webhook::PATH {
        return next.run(req).await;
    }
    let own_budget = OWN_BUDGETS.contains(&path);
    let (parts, body) = req.into_parts();
    if !own_budget && !onion {
        let addr = client_ip(&parts, &state);
        let per_minute = state.infra.config.limits.public_posts_per_minute;
        let key = limits::client_key(&state.keys, "post", addr);
        let verdict = match state.infra.db.acquire().await {
            Ok(mut conn) => limits::take(&mut conn, &key, Budget::per_minute(per_minute)).await,
            Err(e) => Err(e),
        };
        match verdict {
            Ok(Err(_wait)) => {
                metrics::counter!("nasvyazi_limit_refusals_total", "limit" => "public_posts")
                    .increment(1);
                return refusal(&state, &parts);
            }
            Ok(Ok(())) => {}
            Err(e) => {
                tracing::warn!(error = %e, "limits: cannot check the per-client budget; letting through");
            }
        }
    }
    if talk_path(path) && !onion {
        let addr = client_ip(&parts, &state);
        if talk_allowed(&state, addr).await.is_err() {
            metrics::counter!("nasvyazi_limit_refusals_total", "limit" => "talk_per_client")
                .increment(1);
            return refusal(&state, &parts);
        }
    }
    note_load(&state).await;
    let needs_pow = (pow_path(path) && pow_asked(&state))
        || always_pow_path(path)
        || (onion && !token_link_path(path));
    if !needs_pow {
        return next.run(Request::from_parts(parts, body)).await;
    }
    // The proof: the `X-Proof-Of-Work` header (APIs), else the form's
    // `pow` field (pages; the body is read here and handed on).
    let header_proof = parts
        .headers
        .get(POW_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (proof, body) = match header_proof {
        Some(p) => (Some(p), body),
        None => match axum::body::to_bytes(body, POW_BODY_LIMIT).await {
            Ok(bytes) => {
                let field = form_urlencoded::parse(&bytes)
                    .find(|(k, _)| k == "pow")
                    .map(|(_, v)| v.into_owned());
                (field, axum::body::Body::from(bytes))
            }
            Err(_) => (None, axum::body::Body::empty()),
        },
    };
    match proof {
        Some(p) if pow_spend(&state, &p).await => next.run(Request::from_parts(parts, body)).await,
        _ => {
            metrics::counter!("nasvyazi_limit_refusals_total", "limit" => "proof_of_work")
                .increment(1);
            pow_refusal(&state, &parts)
        }
    }
}

/// The header an API client presents its proof in:
/// `<challenge>` (after waiting) or `<challenge>:<counter>` (solved).
pub const POW_HEADER: &str = "x-proof-of-work";

/// The most of a form's body read to find its proof (appeals are the
/// largest forms).
const POW_BODY_LIMIT: usize = 300 * 1024;

/// How long `auto` keeps asking once the load crossed the threshold.
const BUSY_FOR_SECS: i64 = 300;

/// Until when (unix seconds) `auto` asks for proof of work, in this
/// process; every replica sees the shared load budget for itself.
static BUSY_UNTIL: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// The POSTs that start something costly (a confirmation email, an
/// appeal, a conversation): subscribing, signing a letter, appealing,
/// writing to us on the web, page and API.
pub fn pow_path(path: &str) -> bool {
    if [
        "/subscribe",
        "/appeal",
        "/talk",
        "/api/v1/subscriptions",
        "/api/v1/appeals",
        "/api/v1/talk",
    ]
    .contains(&path)
    {
        return true;
    }
    // `/letters/{slug}`, not its confirm / withdraw / forget links.
    matches!(path.strip_prefix("/letters/"), Some(slug) if !slug.is_empty() && !slug.contains('/'))
}

/// The POSTs that open a conversation from the web: proof of work like
/// the other forms, and a per-client budget of their own
/// (`consultations.web_conversations_per_client_per_hour`).
pub fn talk_path(path: &str) -> bool {
    path == "/talk" || path == "/api/v1/talk"
}

/// Survey answers: a proof of work every time, whatever
/// `limits.proof_of_work` says (issue 24: padding must cost something).
pub fn always_pow_path(path: &str) -> bool {
    let survey = |rest: &str| !rest.is_empty() && !rest.contains('/');
    match path.strip_prefix("/surveys/") {
        Some(slug) => survey(slug),
        None => path
            .strip_prefix("/api/v1/surveys/")
            .and_then(|r| r.strip_suffix("/answers"))
            .is_some_and(survey),
    }
}

/// The token links (a secret in the path: confirm, unsubscribe, withdraw,
/// forget). They need no proof of work, even through the onion address:
/// the token is the proof, and a one-click unsubscribe must stay one click.
pub fn token_link_path(path: &str) -> bool {
    [
        "/confirm/",
        "/u/",
        "/forget/",
        "/letters/confirm/",
        "/letters/withdraw/",
        "/letters/forget/",
        "/appeal/forget/",
    ]
    .iter()
    .any(|p| path.strip_prefix(p).is_some_and(|t| !t.is_empty()))
}

/// Spends one of the client's budget of new web conversations.
async fn talk_allowed(state: &AppState, addr: IpAddr) -> Result<(), ()> {
    let key = limits::client_key(&state.keys, "talk:open", addr);
    let per_hour = state
        .infra
        .config
        .consultations
        .web_conversations_per_client_per_hour;
    let verdict = match state.infra.db.acquire().await {
        Ok(mut conn) => limits::take(&mut conn, &key, Budget::per_hour(per_hour)).await,
        Err(e) => Err(e),
    };
    match verdict {
        Ok(v) => v.map_err(|_| ()),
        Err(e) => {
            tracing::warn!(error = %e, "limits: cannot check the talk budget; letting through");
            Ok(())
        }
    }
}

/// Whether proof of work is asked for now.
pub fn pow_asked(state: &AppState) -> bool {
    use nasvyazi_shared::config::ProofOfWork;
    match state.infra.config.limits.proof_of_work {
        ProofOfWork::Off => false,
        ProofOfWork::On => true,
        ProofOfWork::Auto => {
            chrono::Utc::now().timestamp() < BUSY_UNTIL.load(std::sync::atomic::Ordering::Relaxed)
        }
    }
}

/// In `auto`, every public POST spends one of a budget shared by all
/// clients (`limits.proof_of_work_busy_posts_per_minute`); when it runs
/// out, proof of work is asked for the next five minutes.
async fn note_load(state: &AppState) {
    let l = &state.infra.config.limits;
    if l.proof_of_work != nasvyazi_shared::config::ProofOfWork::Auto {
        return;
    }
    let key = limits::key(&state.keys, "pow:load", b"all");
    let budget = Budget::per_minute(l.proof_of_work_busy_posts_per_minute);
    let over = match state.infra.db.acquire().await {
        Ok(mut conn) => matches!(limits::take(&mut conn, &key, budget).await, Ok(Err(_))),
        Err(_) => false,
    };
    if over {
        let until = chrono::Utc::now().timestamp() + BUSY_FOR_SECS;
        BUSY_UNTIL.fetch_max(until, std::sync::atomic::Ordering::Relaxed);
    }
}

fn pow_rules(state: &AppState) -> limits::pow::Rules {
    let l = &state.infra.config.limits;
    limits::pow::Rules {
        bits: l.proof_of_work_bits,
        wait_secs: l.proof_of_work_wait_secs as i64,
        ttl_secs: POW_TTL_SECS,
    }
}

/// How long a challenge may be used.
const POW_TTL_SECS: i64 = 1800;

/// Checks a proof and spends its challenge (single use, in `pow_spent`).
/// When the database cannot answer, a valid proof is let through.
async fn pow_spend(state: &AppState, proof: &str) -> bool {
    let now = chrono::Utc::now().timestamp();
    let Some(valid) = limits::pow::check(&state.keys, proof, now, pow_rules(state)) else {
        return false;
    };
    let expires = chrono::DateTime::from_timestamp(valid.expires, 0).unwrap_or_default();
    let fresh = sqlx::query_scalar::<_, i32>(
        "INSERT INTO pow_spent (challenge_hash, expires_at) VALUES ($1, $2)
         ON CONFLICT DO NOTHING RETURNING 1",
    )
    .bind(&valid.spent_key)
    .bind(expires)
    .fetch_optional(&state.infra.db)
    .await;
    match fresh {
        Ok(row) => row.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "limits: cannot record a proof of work; letting through");
            true
        }
    }
}

/// What a form shows while proof of work is asked for: the challenge (a
/// hidden field) and how long to wait before sending.
#[derive(Debug, serde::Serialize)]
pub struct PowView {
    pub challenge: String,
    pub wait_secs: u32,
}

/// The challenge a form carries: while proof of work is asked for, and
/// always through the onion address.
pub fn pow_view(state: &AppState) -> Option<PowView> {
    (pow_asked(state) || onion_request()).then(|| pow_always(state))
}

/// A challenge, whatever the setting (the forms that always need one).
pub fn pow_always(state: &AppState) -> PowView {
    PowView {
        challenge: limits::pow::issue(&state.keys, chrono::Utc::now().timestamp()),
        wait_secs: state.infra.config.limits.proof_of_work_wait_secs,
    }
}

/// A challenge for API clients.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Challenge {
    /// Whether `POST /api/v1/subscriptions` and `POST /api/v1/appeals`
    /// ask for proof of work now.
    pub required: bool,
    /// Present it in the `X-Proof-Of-Work` header: as it is once it is
    /// `wait_secs` old, or at once as `<challenge>:<counter>` where
    /// SHA-256 of `<challenge>:<counter>` (decimal counter) has `bits`
    /// leading zero bits. Single use; valid 30 minutes.
    pub challenge: String,
    pub bits: u32,
    pub wait_secs: u32,
    pub expires_in_secs: i64,
}

/// A proof-of-work challenge (anti-abuse at busy times). While `required`
/// is true, `POST /api/v1/subscriptions` and `POST /api/v1/appeals`
/// without a valid, unused `X-Proof-Of-Work` header get 429
/// `proof_of_work`.
#[utoipa::path(get, path = "/api/v1/challenge", tag = "public",
    responses((status = 200, body = Challenge)))]
pub async fn challenge(State(state): State<AppState>) -> axum::Json<Challenge> {
    let l = &state.infra.config.limits;
    axum::Json(Challenge {
        required: pow_asked(&state),
        challenge: limits::pow::issue(&state.keys, chrono::Utc::now().timestamp()),
        bits: l.proof_of_work_bits,
        wait_secs: l.proof_of_work_wait_secs,
        expires_in_secs: POW_TTL_SECS,
    })
}

/// The one proof-of-work refusal (same bytes whatever was wrong and
/// whoever asks): JSON on the API, a page elsewhere.
fn pow_refusal(state: &AppState, parts: &Parts) -> Response {
    let wait = state.infra.config.limits.proof_of_work_wait_secs;
    let mut res = if parts.uri.path().starts_with("/api/") {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "proof_of_work".into(),
                message: "The site is busy: get a challenge from GET /api/v1/challenge and \
                          present it, solved or after waiting, in the X-Proof-Of-Work header."
                    .into(),
            },
        };
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    } else {
        let lang_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("lang="))
                .map(str::to_string)
        });
        let lang = crate::pages::language(lang_query.as_deref(), &parts.headers);
        crate::pages::message(
            state,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            "pow.refused_title",
            "pow.refused_body",
        )
    };
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// Deletes spent challenges past their expiry (the janitor).
pub async fn delete_spent_challenges(db: &PgPool) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM pow_spent WHERE expires_at < now()")
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Public POSTs with budgets of their own (appeals: one for submitting, one
/// for status look-ups, `appeals.rate_limit_per_minute` each), kept here
/// like every other budget; the per-client budget does not count them.
const OWN_BUDGETS: &[&str] = &[
    "/appeal",
    "/appeal/status",
    "/appeal/status/add",
    "/api/v1/appeals",
    "/api/v1/appeals/status",
    "/api/v1/appeals/information",
];

/// Spends one of the client's appeal budget for `purpose`: `Err(wait)`
/// when it is spent. When the database cannot answer, the request goes on.
pub async fn appeal_allowed(
    state: &AppState,
    purpose: crate::appeals::Purpose,
    client: &ClientIp,
) -> Result<(), std::time::Duration> {
    // Through the onion address: proof of work instead (see `public_posts`).
    if client.onion {
        return Ok(());
    }
    let addr = client.addr;
    let name = match purpose {
        crate::appeals::Purpose::Submit => "appeal:submit",
        crate::appeals::Purpose::Status => "appeal:status",
    };
    let key = limits::client_key(&state.keys, name, addr);
    let budget = Budget::per_minute(state.infra.config.appeals.rate_limit_per_minute);
    let verdict = match state.infra.db.acquire().await {
        Ok(mut conn) => limits::take(&mut conn, &key, budget).await,
        Err(e) => Err(e),
    };
    match verdict {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "limits: cannot check the appeal budget; letting through");
            Ok(())
        }
    }
}

/// The one refusal: JSON on the API, a page elsewhere; `Retry-After` is
/// fixed so that no two refusals differ by the client's state.
fn refusal(state: &AppState, parts: &Parts) -> Response {
    let mut res = if parts.uri.path().starts_with("/api/") {
        let body = ErrorBody {
            error: ErrorDetail {
                code: "rate_limited".into(),
                message: "Too many requests from this network in the last minute. Nothing \
                          already sent was lost. Please wait a minute and try again."
                    .into(),
            },
        };
        (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
    } else {
        let lang_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("lang="))
                .map(str::to_string)
        });
        let lang = crate::pages::language(lang_query.as_deref(), &parts.headers);
        crate::pages::message(
            state,
            lang,
            StatusCode::TOO_MANY_REQUESTS,
            "error.title",
            "error.rate_limited",
        )
    };
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    res
}

/// Deletes refilled budgets (the janitor).
pub async fn delete_refilled(db: &PgPool) -> sqlx::Result<u64> {
    delete_spent_challenges(db).await?;
    let mut conn = db.acquire().await?;
    limits::delete_refilled(&mut conn).await
}

#[cfg(test)]
mod pow_tests {
    use super::{always_pow_path, pow_path, talk_path, token_link_path};

    #[test]
    fn proof_of_work_guards_what_starts_something_and_nothing_else() {
        for p in [
            "/subscribe",
            "/appeal",
            "/api/v1/subscriptions",
            "/api/v1/appeals",
            "/letters/ost-2027",
            "/talk",
            "/api/v1/talk",
        ] {
            assert!(pow_path(p), "{p}");
        }
        assert!(talk_path("/talk") && talk_path("/api/v1/talk"));
        assert!(!talk_path("/talk/status") && !talk_path("/api/v1/talk/messages"));
        assert!(always_pow_path("/surveys/ost-access"));
        assert!(always_pow_path("/api/v1/surveys/ost-access/answers"));
        assert!(!always_pow_path("/surveys/"));
        assert!(!always_pow_path("/api/v1/surveys/a/b/answers"));
        for p in [
            "/u/TOKEN",
            "/confirm/T",
            "/letters/forget/T",
            "/appeal/forget/T",
        ] {
            assert!(token_link_path(p), "{p}");
        }
        for p in ["/u/", "/talk", "/appeal/status", "/letters/ost-2027"] {
            assert!(!token_link_path(p), "{p}");
        }
        for p in [
            "/appeal/status",
            "/appeal/status/add",
            "/api/v1/appeals/status",
            "/letters/confirm/TOKEN",
            "/letters/withdraw/TOKEN",
            "/letters/forget/TOKEN",
            "/appeal/forget/TOKEN",
            "/forget/TOKEN",
            "/letters/",
        ] {
            assert!(!pow_path(p), "{p}");
        }
    }
}
