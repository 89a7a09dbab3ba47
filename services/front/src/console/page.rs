//! How every console page answers: the common template context, forms with
//! their CSRF token, redirects after a change, and problems (not found,
//! forbidden, a refused form, an internal error) turned into a page in the
//! person's language by [`layer`].
//!
//! Nothing here logs what a person typed: internal errors are logged once
//! with their chain, which carries ids only.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use serde::Serialize;

use super::session::Session;
use crate::AppState;
use crate::pages;

/// The console's Content-Security-Policy: the public pages' policy plus our
/// own script (progressive enhancement) and requests back to us.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Why a page could not be shown. Handlers return it with `?`; [`layer`]
/// renders it.
#[derive(Debug)]
pub enum Problem {
    /// Not signed in (or the session ended): to the sign-in page.
    SignIn,
    NotFound,
    /// The person's role may not do this.
    Forbidden,
    /// A form without its CSRF token (or with another session's).
    Csrf,
    Internal(anyhow::Error),
}

/// A case action's refusal that the page does not answer itself: not
/// found, or an internal error.
pub fn staff_problem(e: nasvyazi_cases::staff::StaffError) -> Problem {
    use nasvyazi_cases::staff::StaffError;
    match e {
        StaffError::NotFound => Problem::NotFound,
        StaffError::Internal(e) => Problem::Internal(e),
        other => Problem::Internal(anyhow::anyhow!("{other}")),
    }
}

impl<E: Into<anyhow::Error>> From<E> for Problem {
    fn from(e: E) -> Self {
        Problem::Internal(e.into())
    }
}

/// The marker [`layer`] looks for on a response.
#[derive(Debug, Clone, Copy)]
struct ProblemPage(&'static str);

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let (status, key) = match self {
            Problem::SignIn => return Redirect::to("/admin/sign-in").into_response(),
            Problem::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Problem::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            Problem::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            Problem::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "console page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        };
        let mut res = status.into_response();
        res.extensions_mut().insert(ProblemPage(key));
        res
    }
}

pub type PageResult = Result<Response, Problem>;

/// Every console response: the console's CSP, and problems rendered as
/// pages in the language of the `lang` cookie (which every console page
/// sets to the person's language).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let headers = req.headers().clone();
    let mut res = next.run(req).await;
    // axum's own refusals (a malformed id in the path, a wrong method, a
    // body too large) come as plain text: shown as pages too.
    let status = res.status();
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if (status.is_client_error() || status.is_server_error())
        && !is_html
        && res.extensions().get::<ProblemPage>().is_none()
    {
        let key = match status {
            StatusCode::FORBIDDEN => "forbidden",
            s if s.is_server_error() => "internal",
            _ => "not_found",
        };
        res.extensions_mut().insert(ProblemPage(key));
    }
    if let Some(ProblemPage(key)) = res.extensions().get::<ProblemPage>().copied() {
        // The signed-in person's language, else the cookie's.
        let mut lang = pages::language(None, &headers);
        if let Some(secret) = super::session::secret(&headers)
            && let Ok(Some(s)) = super::session::find(&state.infra.db, &secret, "full").await
        {
            lang = s.user.lang;
        }
        let status = res.status();
        res = render_bare(
            &state,
            lang,
            "console/problem.html",
            status,
            minijinja::context! { problem => key },
        );
    }
    // A response with its own, stricter policy keeps it (the media proxy's
    // `sandbox`).
    res.headers_mut()
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP));
    res
}

/// Which sections a role sees (the same rules as the admin API).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Can {
    pub campaigns: bool,
    pub appeals: bool,
    pub letters: bool,
    pub supporters: bool,
    pub admin: bool,
    /// The consultations inbox (consultants and admins).
    pub consultations: bool,
    /// Canned answers (organisers too, who write them).
    pub canned: bool,
}

impl Can {
    pub fn of(role: Role) -> Can {
        let admin = role == Role::Admin;
        let organiser = admin || role == Role::Organiser;
        Can {
            campaigns: organiser,
            appeals: admin || role == Role::Caseworker,
            letters: organiser,
            supporters: organiser,
            admin,
            consultations: admin || role == Role::Consultant,
            canned: organiser || role == Role::Consultant,
        }
    }
}

/// The context every signed-in page gets.
#[derive(Serialize)]
struct Common<'a> {
    lang: &'static str,
    org: &'a str,
    user: UserView<'a>,
    csrf: &'a str,
    can: Can,
    /// The current path (the language switch comes back to it).
    path: &'a str,
    section: &'a str,
}

#[derive(Serialize)]
struct UserView<'a> {
    name: &'a str,
    role: &'static str,
}

/// Renders a signed-in page: `section` marks the menu entry.
pub fn render<C: Serialize>(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    section: &str,
    template: &str,
    ctx: C,
) -> Response {
    render_status(state, s, uri, section, template, StatusCode::OK, ctx)
}

pub fn render_status<C: Serialize>(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    section: &str,
    template: &str,
    status: StatusCode,
    ctx: C,
) -> Response {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/admin");
    let common = Common {
        lang: s.user.lang.code(),
        org: &state.infra.config.organisation.name,
        user: UserView {
            name: &s.user.name,
            role: s.user.role.as_str(),
        },
        csrf: &s.csrf,
        can: Can::of(s.user.role),
        path,
        section,
    };
    let context = minijinja::context! {
        ..minijinja::Value::from_serialize(&common),
        ..minijinja::Value::from_serialize(&ctx)
    };
    finish(state, s.user.lang, template, status, context)
}

/// Renders a page outside a session (sign-in, problems).
pub fn render_bare<C: Serialize>(
    state: &AppState,
    lang: Lang,
    template: &str,
    status: StatusCode,
    ctx: C,
) -> Response {
    let context = minijinja::context! {
        lang => lang.code(),
        org => &state.infra.config.organisation.name,
        ..minijinja::Value::from_serialize(&ctx)
    };
    finish(state, lang, template, status, context)
}

fn finish(
    state: &AppState,
    lang: Lang,
    template: &str,
    status: StatusCode,
    context: minijinja::Value,
) -> Response {
    let html = match state
        .templates
        .get_template(template)
        .and_then(|t| t.render(context))
    {
        Ok(html) => html,
        Err(e) => {
            // Kind, template and line only: the full error lists the
            // values the template saw (an appeal's text, an address).
            let at = e.name().map(str::to_string).unwrap_or_default();
            tracing::error!(template, kind = ?e.kind(), at, line = e.line(), "console template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("lang={}; Path=/; SameSite=Lax", lang.code())) {
        h.append(header::SET_COOKIE, v);
    }
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    res
}

/// A parsed form whose CSRF token was checked against the session.
pub struct Form(pub Vec<(String, String)>);

impl Form {
    /// Parses `body`; [`Problem::Csrf`] unless it carries the session's token.
    pub fn checked(s: &Session, body: &[u8]) -> Result<Form, Problem> {
        let form = pages::parse_form(body);
        match pages::field(&form, "csrf") {
            Some(t) if s.csrf_ok(t) => Ok(Form(form)),
            _ => Err(Problem::Csrf),
        }
    }

    /// The first value of `key`, trimmed ("" if absent).
    pub fn get(&self, key: &str) -> &str {
        pages::field(&self.0, key).map(str::trim).unwrap_or("")
    }

    /// The value as typed (not trimmed; texts keep their layout).
    pub fn raw(&self, key: &str) -> &str {
        pages::field(&self.0, key).unwrap_or("")
    }

    /// Every value of `key` (checkboxes), empty ones dropped.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == key && !v.trim().is_empty())
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// After a change: back to `to` with a notice (`console.done.<done>`).
pub fn done(to: &str, done: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{to}{sep}done={done}")).into_response()
}

/// The notices a page may show after a redirect (anything else is ignored:
/// the query is not a place to put text on the page).
pub fn notice(done: Option<&str>) -> Option<String> {
    const KNOWN: &[&str] = &[
        "saved",
        "created",
        "approved",
        "letter_approved",
        "paused",
        "resumed",
        "cancelled",
        "test_sent",
        "resend",
        "note",
        "status",
        "forwarded",
        "unsubscribed",
        "erased",
        "password",
        "totp_on",
        "totp_off",
        "signed_out_elsewhere",
        "user_created",
        "user_disabled",
        "imported",
        "closed",
        "resolved",
        "post_edited",
        "post_deleted",
        "post_pinned",
        "post_unpinned",
    ];
    done.filter(|d| KNOWN.contains(d))
        .map(|d| format!("console.done.{d}"))
}
