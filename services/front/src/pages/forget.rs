//! The "forget me" pages of appellants (`/appeal/forget/{token}`) and
//! signers (`/letters/forget/{token}`): GET shows what will be erased and a
//! button, POST erases (mail scanners open links; they do not submit
//! forms). ru / kk / en, CSRF on the form.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::subscribe::LangQuery;
use super::{
    csrf_ok, csrf_refused, csrf_token, field, internal_error, language, message, parse_form,
    render, url_safe,
};
use crate::AppState;
use crate::forget::{self, Kind};

/// The catalog section and the form's path of each kind.
fn strings(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::Appellant => ("appeal_forget", "/appeal/forget"),
        Kind::Signer => ("letter_forget", "/letters/forget"),
    }
}

async fn page(
    state: AppState,
    kind: Kind,
    token: String,
    lang_q: LangQuery,
    headers: HeaderMap,
) -> Response {
    let lang = language(lang_q.lang.as_deref(), &headers);
    let (prefix, action) = strings(kind);
    match forget::token_known(&state.infra.db, kind, &token).await {
        Ok(true) => {
            let (csrf, set_cookie) = csrf_token(&state, &headers);
            render(
                &state,
                lang,
                "forget.html",
                StatusCode::OK,
                minijinja::context! { csrf, prefix, action, token => url_safe(&token) },
                set_cookie,
            )
        }
        Ok(false) => message(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            &format!("{prefix}.invalid_title"),
            &format!("{prefix}.invalid_body"),
        ),
        Err(e) => internal_error(&state, lang, "forget page", &e),
    }
}

async fn submit(
    state: AppState,
    kind: Kind,
    token: String,
    lang_q: LangQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(lang_q.lang.as_deref(), &headers);
    if !csrf_ok(&state, &headers, field(&parse_form(&body), "csrf")) {
        return csrf_refused(&state, lang);
    }
    let (prefix, _) = strings(kind);
    match forget::erase(&state.infra.db, kind, &token).await {
        Ok(true) => message(
            &state,
            lang,
            StatusCode::OK,
            &format!("{prefix}.done_title"),
            &format!("{prefix}.done_body"),
        ),
        Ok(false) => message(
            &state,
            lang,
            StatusCode::NOT_FOUND,
            &format!("{prefix}.invalid_title"),
            &format!("{prefix}.invalid_body"),
        ),
        Err(e) => internal_error(&state, lang, "erasure", &format!("{e:#}")),
    }
}

pub async fn appeal_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    page(state, Kind::Appellant, token, q, headers).await
}

pub async fn appeal_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit(state, Kind::Appellant, token, q, headers, body).await
}

pub async fn signer_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    page(state, Kind::Signer, token, q, headers).await
}

pub async fn signer_submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    submit(state, Kind::Signer, token, q, headers, body).await
}
