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
use sqlx::{PgConnection, PgPool};

use crate::AppState;

/// The client's address as [`limits::client_addr`] defines it (the peer,
/// or the forwarded address when the peer is in `http.trusted_proxies`).
/// Without a peer address (a router called directly) every request shares
/// one bucket.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(parts, state)))
    }
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
/// still bounds what it can cost.
pub async fn public_posts(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if req.method() != Method::POST
        || path == crate::telegram::webhook::PATH
        || OWN_BUDGETS.contains(&path)
    {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
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
            refusal(&state, &parts)
        }
        Ok(Ok(())) => next.run(Request::from_parts(parts, body)).await,
        Err(e) => {
            tracing::warn!(error = %e, "limits: cannot check the per-client budget; letting through");
            next.run(Request::from_parts(parts, body)).await
        }
    }
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
    addr: IpAddr,
) -> Result<(), std::time::Duration> {
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

/// Whether one more confirmation email may go to the address whose blind
/// index is `bi` (`limits.confirmations_per_address_per_hour`); spends one
/// if so. `purpose` separates subscriptions from signatures. The caller
/// answers the same either way.
pub async fn confirmation_allowed(
    conn: &mut PgConnection,
    state_keys: &nasvyazi_shared::crypto::Keyring,
    per_hour: u32,
    purpose: &str,
    bi: &[u8],
) -> sqlx::Result<bool> {
    let key = limits::key(state_keys, &format!("confirm:{purpose}"), bi);
    let allowed = limits::take(conn, &key, Budget::per_hour(per_hour))
        .await?
        .is_ok();
    if !allowed {
        metrics::counter!("nasvyazi_limit_refusals_total", "limit" => "confirmations_per_address")
            .increment(1);
    }
    Ok(allowed)
}

/// Deletes refilled budgets (the janitor).
pub async fn delete_refilled(db: &PgPool) -> sqlx::Result<u64> {
    let mut conn = db.acquire().await?;
    limits::delete_refilled(&mut conn).await
}
