//! The subscription pages: `/`, `/subscribe`, `/confirm/{token}`,
//! `/u/{token}` (RFC 8058 one-click unsubscribe) and `/forget/{token}`.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use nasvyazi_supporters::contacts::topics;
use serde::Deserialize;

use super::token_link::{Confirms, Link, TokenLink};
use super::{csrf_token, field, internal_error, language, message, render};
use crate::AppState;
use crate::pages::PostedForm;
use nasvyazi_supporters::subscriptions::{self, Subscription};

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

pub async fn home(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    render(&state, lang, "home.html", StatusCode::OK, (), None)
}

#[derive(Debug, Default, serde::Serialize)]
struct FormValues {
    email: String,
    language: String,
    topics: Vec<String>,
    region: String,
}

async fn subscribe_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: nasvyazi_shared::i18n::Lang,
    status: StatusCode,
    form: FormValues,
    error: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = csrf_token(state, headers);
    let regions = nasvyazi_supporters::regions::load(&state.infra.db)
        .await
        .unwrap_or_default();
    let form = FormValues {
        language: if form.language.is_empty() {
            lang.code().to_string()
        } else {
            form.language
        },
        ..form
    };
    render(
        state,
        lang,
        "subscribe.html",
        status,
        minijinja::context! { csrf, form, error, topics => topics(), regions },
        set_cookie,
    )
}

pub async fn subscribe_form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    subscribe_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        FormValues::default(),
        None,
    )
    .await
}

pub async fn subscribe_submit(posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    let values = FormValues {
        email: field(&form, "email").unwrap_or("").to_string(),
        language: field(&form, "language").unwrap_or("").to_string(),
        topics: form
            .iter()
            .filter(|(k, _)| k == "topics")
            .map(|(_, v)| v.clone())
            .collect(),
        region: field(&form, "region").unwrap_or("").to_string(),
    };
    // A filled honeypot is a bot: answer as if accepted, store nothing.
    if field(&form, "website").is_some_and(|v| !v.is_empty()) {
        return message(
            &state,
            lang,
            StatusCode::OK,
            "subscribe.accepted_title",
            "subscribe.accepted_body",
        );
    }
    let known = match nasvyazi_supporters::regions::load(&state.infra.db).await {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "cannot load regions");
            return message(
                &state,
                lang,
                StatusCode::INTERNAL_SERVER_ERROR,
                "error.title",
                "error.internal",
            );
        }
    };
    let sub = match Subscription::parse(
        &values.email,
        &values.language,
        &values.topics,
        Some(&values.region),
        &known,
    ) {
        Ok(s) => s,
        Err(invalid) => {
            let key = invalid.message_key();
            return subscribe_page(
                &state,
                &headers,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
                Some(key),
            )
            .await;
        }
    };
    let onion = super::via_onion(&state, &headers);
    match state.request_opt_in(&sub, onion).await {
        Ok(()) => message(
            &state,
            lang,
            StatusCode::OK,
            "subscribe.accepted_title",
            "subscribe.accepted_body",
        ),
        Err(e) => internal_error(&state, lang, "subscription", &format!("{e:#}")),
    }
}

/// The confirmation link of a subscription.
impl Confirms for subscriptions::Contacts {
    const LINK: TokenLink = TokenLink::new("confirm.html", "confirmation")
        .done("confirm.done_title", "confirm.done_body")
        .invalid("confirm.invalid_title", "confirm.invalid_body");
}

/// The unsubscribe link (in every email's footer and `List-Unsubscribe`).
const UNSUBSCRIBE: TokenLink = TokenLink::new("unsubscribe.html", "unsubscribe")
    .done("unsubscribe.done_title", "unsubscribe.done_body")
    .invalid("unsubscribe.invalid_title", "unsubscribe.invalid_body");

/// "Forget me", offered on the unsubscribe page.
const FORGET: TokenLink = UNSUBSCRIBE.what("erasure").done(
    "unsubscribe.forget_done_title",
    "unsubscribe.forget_done_body",
);

pub async fn unsubscribe_page(link: Link) -> Response {
    let state = &link.state;
    let known = subscriptions::unsubscribe_token_known(&state.infra.db, &state.keys, &link.token);
    link.show(&UNSUBSCRIBE, known.await.map_err(Into::into))
}

/// RFC 8058 one-click: a mail provider POSTs `List-Unsubscribe=One-Click`
/// with no cookie and no further question. The token in the URL is the
/// authority, so no CSRF token is asked for here.
pub async fn unsubscribe_submit(link: Link) -> Response {
    let state = &link.state;
    let done = subscriptions::unsubscribe(&state.infra.db, &state.keys, &link.token).await;
    link.answer(&UNSUBSCRIBE, done)
}

/// "Forget me": the same page offers it; the GET shows that page.
pub async fn forget_submit(link: Link, body: Bytes) -> Response {
    link.act(&FORGET, &body, async |state, token| {
        subscriptions::forget(&state.infra.db, &state.keys, token).await
    })
    .await
}
