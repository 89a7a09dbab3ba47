//! The "forget me" pages of appellants (`/appeal/forget/{token}`) and
//! signers (`/letters/forget/{token}`): GET shows what will be erased and a
//! button, POST erases (mail scanners open links; they do not submit
//! forms). ru / kk / en, CSRF on the form.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::language;
use super::subscribe::LangQuery;
use super::token_link::TokenLink;
use crate::AppState;
use crate::forget::{self, Kind};

/// The link of each kind: its catalog section and the form's path.
fn link(kind: Kind) -> &'static TokenLink {
    const APPELLANT: TokenLink = TokenLink {
        page: "forget.html",
        vars: &[("prefix", "appeal_forget"), ("action", "/appeal/forget")],
        what: "erasure",
        done: ("appeal_forget.done_title", "appeal_forget.done_body"),
        invalid: ("appeal_forget.invalid_title", "appeal_forget.invalid_body"),
    };
    const SIGNER: TokenLink = TokenLink {
        page: "forget.html",
        vars: &[("prefix", "letter_forget"), ("action", "/letters/forget")],
        what: "erasure",
        done: ("letter_forget.done_title", "letter_forget.done_body"),
        invalid: ("letter_forget.invalid_title", "letter_forget.invalid_body"),
    };
    match kind {
        Kind::Appellant => &APPELLANT,
        Kind::Signer => &SIGNER,
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
    let known = forget::token_known(&state.infra.db, kind, &token).await;
    link(kind).show(&state, &headers, lang, &token, known.map_err(Into::into))
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
    if let Some(refused) = link(kind).refused(&state, &headers, lang, &body) {
        return refused;
    }
    let gone = forget::erase(&state.infra.db, kind, &token).await;
    link(kind).answer(&state, lang, gone)
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
