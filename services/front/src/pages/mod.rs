//! Server-rendered public pages in ru / kk / en: no JavaScript needed,
//! nothing loaded from third parties, a strict Content-Security-Policy,
//! CSRF protection on every form (double-submit cookie).

pub mod appeal;
pub mod forget;
pub mod letters;
pub mod subscribe;
pub mod token_link;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use nasvyazi_shared::i18n::{self, Lang};
use serde::Serialize;

use crate::AppState;

/// The page templates, embedded in the binary.
pub fn templates() -> Arc<Environment<'static>> {
    let mut env = Environment::new();
    for (name, src) in [
        ("base.html", include_str!("../../templates/base.html")),
        ("home.html", include_str!("../../templates/home.html")),
        (
            "subscribe.html",
            include_str!("../../templates/subscribe.html"),
        ),
        ("message.html", include_str!("../../templates/message.html")),
        ("confirm.html", include_str!("../../templates/confirm.html")),
        (
            "unsubscribe.html",
            include_str!("../../templates/unsubscribe.html"),
        ),
        ("appeal.html", include_str!("../../templates/appeal.html")),
        (
            "appeal_created.html",
            include_str!("../../templates/appeal_created.html"),
        ),
        (
            "appeal_status_form.html",
            include_str!("../../templates/appeal_status_form.html"),
        ),
        (
            "appeal_status.html",
            include_str!("../../templates/appeal_status.html"),
        ),
        ("letter.html", include_str!("../../templates/letter.html")),
        (
            "letter_confirm.html",
            include_str!("../../templates/letter_confirm.html"),
        ),
        (
            "letter_withdraw.html",
            include_str!("../../templates/letter_withdraw.html"),
        ),
        ("forget.html", include_str!("../../templates/forget.html")),
        ("talk.html", include_str!("../../templates/talk.html")),
        (
            "talk_created.html",
            include_str!("../../templates/talk_created.html"),
        ),
        (
            "talk_status_form.html",
            include_str!("../../templates/talk_status_form.html"),
        ),
        (
            "talk_status.html",
            include_str!("../../templates/talk_status.html"),
        ),
        ("survey.html", include_str!("../../templates/survey.html")),
        (
            "survey_thanks.html",
            include_str!("../../templates/survey_thanks.html"),
        ),
    ] {
        env.add_template(name, src).expect("page template parses");
    }
    crate::console::add_templates(&mut env);
    i18n::register(&mut env);
    Arc::new(env)
}

/// The Content-Security-Policy of every response: our own CSS, nothing else.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every front response.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // The console sets its own (this one plus its self-hosted script).
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Links carry tokens: never send them on as a referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// The language of a page: `?lang=`, then the `lang` cookie, then
/// `Accept-Language`, then Russian.
pub fn language(query_lang: Option<&str>, headers: &HeaderMap) -> Lang {
    query_lang
        .and_then(Lang::parse)
        .or_else(|| cookie(headers, "lang").and_then(|v| Lang::parse(&v)))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .and_then(Lang::from_accept_language)
        })
        .unwrap_or(Lang::Ru)
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The CSRF token for a public form page (`crate::csrf::PUBLIC`).
pub fn csrf_token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    crate::csrf::PUBLIC.token(state, headers)
}

/// Whether a posted public form is ours (`crate::csrf::PUBLIC`).
pub fn csrf_ok(state: &AppState, headers: &HeaderMap, posted: Option<&str>) -> bool {
    crate::csrf::PUBLIC.ok(state, headers, posted)
}

/// Renders `template` with the common context (lang, organisation) plus
/// `ctx`.
pub fn render<C: Serialize>(
    state: &AppState,
    lang: Lang,
    template: &str,
    status: StatusCode,
    ctx: C,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let org = &state.infra.config.organisation;
    let context = minijinja::context! {
        lang => lang.code(),
        org => &org.name,
        org_contact => &org.contact,
        // While proof of work is asked for, forms carry a challenge.
        pow => crate::limits::pow_view(state),
        ..minijinja::Value::from_serialize(&ctx)
    };
    let html = match state
        .templates
        .get_template(template)
        .and_then(|t| t.render(context))
    {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template, error = %e, "page template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    if let Some(c) = set_cookie {
        h.append(header::SET_COOKIE, c);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("lang={}; Path=/; SameSite=Lax", lang.code())) {
        h.append(header::SET_COOKIE, v);
    }
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    res
}

/// A page with a title and a paragraph (results, errors).
pub fn message(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    title: &str,
    body: &str,
) -> Response {
    render(
        state,
        lang,
        "message.html",
        status,
        minijinja::context! { title, body, back => format!("/?lang={}", lang.code()) },
        None,
    )
}

/// The page for a failure whose detail goes to the log only; `what` names
/// the step (never a personal value).
pub fn internal_error(
    state: &AppState,
    lang: Lang,
    what: &str,
    e: &dyn std::fmt::Display,
) -> Response {
    tracing::error!(error = %e, "{what} failed");
    message(
        state,
        lang,
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.title",
        "error.internal",
    )
}

/// The page for a form posted without its CSRF token.
pub fn csrf_refused(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::FORBIDDEN,
        "error.title",
        "error.csrf",
    )
}

/// Tokens are base64url; anything else is dropped before it reaches HTML.
pub fn url_safe(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect()
}

/// Static files (the stylesheet), embedded.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/site.css"),
    )
        .into_response()
}

/// Parses an `application/x-www-form-urlencoded` body (repeated keys kept).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    // NUL cannot be stored in PostgreSQL text and no form needs it.
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.replace('\0', ""), v.replace('\0', "")))
        .collect()
}

/// A POST of one of our public forms: the state, the language (`?lang=`
/// or the browser's), the headers and the form's fields. Extracting it
/// checks the form's CSRF token: a form that is not ours is answered with
/// the refusal page (403) before the handler runs.
pub struct PostedForm {
    pub state: AppState,
    pub lang: Lang,
    pub headers: HeaderMap,
    pub form: Vec<(String, String)>,
}

impl PostedForm {
    /// The state, the language, the headers and the fields.
    pub fn into_parts(self) -> (AppState, Lang, HeaderMap, Vec<(String, String)>) {
        (self.state, self.lang, self.headers, self.form)
    }
}

impl axum::extract::FromRequest<AppState> for PostedForm {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let lang = page_language(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = axum::extract::Request::from_parts(parts, body);
        let body = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = parse_form(&body);
        if let Some(refused) = form_refused(state, &headers, lang, &form) {
            return Err(refused);
        }
        Ok(PostedForm {
            state: state.clone(),
            lang,
            headers,
            form,
        })
    }
}

/// A page request's language (`?lang=`, then [`language`]'s order); a
/// malformed query string is answered 400 as axum's `Query` answers it.
pub async fn page_language(
    parts: &mut axum::http::request::Parts,
    state: &AppState,
) -> Result<Lang, Response> {
    use axum::extract::{FromRequestParts, Query};
    let Query(q) = Query::<subscribe::LangQuery>::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(language(q.lang.as_deref(), &parts.headers))
}

/// The refusal page (403) when a posted public `form` is not ours (no or a
/// wrong CSRF token), if it is not.
pub fn form_refused(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    form: &[(String, String)],
) -> Option<Response> {
    (!csrf_ok(state, headers, field(form, "csrf"))).then(|| csrf_refused(state, lang))
}

/// The first value of `key` in a parsed form.
pub fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Whether the request came through the onion address (`Host` is
/// `http.onion_url`'s host): what it starts is recorded so the messages
/// answering it link to the onion address too.
pub fn via_onion(state: &AppState, headers: &HeaderMap) -> bool {
    let config = &state.infra.config;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    config.http.onion_url.is_some() && config.base_for_host(host) != config.public_base()
}
