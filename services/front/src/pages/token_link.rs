//! A link from an email or a message that carries a token, both halves,
//! once for every such page of the public listener: the GET shows a page
//! with one button that POSTs, with the form's CSRF token, to the same
//! address (mail scanners open links, so showing changes nothing); the
//! POST checks that token, acts, and answers with one of two messages:
//! done, or the link is unknown, spent or expired (404).
//!
//! A handler takes the request as a [`Link`] (the token, the language, the
//! headers) and says, in a line, what the link is and what it does.
//!
//! It must never log, echo or put in an error the token: the page gets it
//! through [`super::url_safe`], the log gets `what` only.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nasvyazi_shared::i18n::Lang;
use nasvyazi_supporters::opt_in;

use super::{csrf_token, form_refused, internal_error, message, page_language, parse_form, render};
use crate::AppState;

/// One request to a token link: the token from the path, the language
/// (`?lang=` or the browser's), and the headers (the CSRF cookie, the
/// onion address).
pub struct Link {
    pub state: AppState,
    pub token: String,
    pub lang: Lang,
    pub headers: HeaderMap,
}

impl FromRequestParts<AppState> for Link {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(token) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Link {
            state: state.clone(),
            lang: page_language(parts, state).await?,
            headers: parts.headers.clone(),
            token,
        })
    }
}

impl Link {
    /// The GET of `kind`: its button page when the token is `known`, else
    /// the invalid message.
    pub fn show(&self, kind: &TokenLink, known: anyhow::Result<bool>) -> Response {
        kind.show(&self.state, &self.headers, self.lang, &self.token, known)
    }

    /// The POST of `kind`: refused unless the form carries our CSRF token,
    /// else `act` on the token and answer done (it acted) or invalid.
    pub async fn act(
        &self,
        kind: &TokenLink,
        body: &[u8],
        act: impl AsyncFnOnce(&AppState, &str) -> anyhow::Result<bool>,
    ) -> Response {
        if let Some(refused) = self.refused(body) {
            return refused;
        }
        self.answer(kind, act(&self.state, &self.token).await)
    }

    /// The POST's answer without the CSRF check (RFC 8058 one-click, where
    /// the token in the address is the authority), or after a third answer
    /// was ruled out.
    pub fn answer(&self, kind: &TokenLink, acted: anyhow::Result<bool>) -> Response {
        kind.answer(&self.state, self.lang, acted)
    }

    /// The answer when the posted form is not ours, if it is not.
    pub fn refused(&self, body: &[u8]) -> Option<Response> {
        form_refused(&self.state, &self.headers, self.lang, &parse_form(body))
    }
}

/// A double opt-in's kind (subscriptions' `Contacts`, letters'
/// `Signatures`) has a confirmation link: its page and answers.
pub trait Confirms: opt_in::Table {
    const LINK: TokenLink;
}

/// The GET of a confirmation link: the button, whatever the token.
/// Showing the page confirms nothing: mail scanners open links.
pub async fn confirm_page<T: Confirms>(link: Link) -> Response {
    link.show(&T::LINK, Ok(true))
}

/// The POST of a confirmation link: the opt-in takes the token.
pub async fn confirm_submit<T: Confirms>(link: Link, body: Bytes) -> Response {
    link.act(&T::LINK, &body, async |state, token| {
        let taken = opt_in::confirm::<T>(&state.infra.db, &state.keys, token).await?;
        Ok(taken.is_some())
    })
    .await
}

/// One kind of token link.
pub struct TokenLink {
    /// The GET's page: a button that POSTs to the same address.
    pub page: &'static str,
    /// Further values the page shows (a catalog prefix, the form's action).
    pub vars: &'static [(&'static str, &'static str)],
    /// What the link does, in the log when it fails (never a value).
    pub what: &'static str,
    /// The catalog keys (title, body) of the answer when it acted.
    pub done: (&'static str, &'static str),
    /// The catalog keys of the answer when the token is not (or no longer)
    /// good.
    pub invalid: (&'static str, &'static str),
}

impl TokenLink {
    /// A link whose GET shows `page` and whose failures the log names
    /// `what`; its answers are set with [`Self::done`] and
    /// [`Self::invalid`].
    pub const fn new(page: &'static str, what: &'static str) -> Self {
        TokenLink {
            page,
            vars: &[],
            what,
            done: ("", ""),
            invalid: ("", ""),
        }
    }

    /// With the page's further values.
    pub const fn vars(self, vars: &'static [(&'static str, &'static str)]) -> Self {
        TokenLink { vars, ..self }
    }

    /// With what the log names its failures.
    pub const fn what(self, what: &'static str) -> Self {
        TokenLink { what, ..self }
    }

    /// With the answer (catalog keys of title and body) when it acted.
    pub const fn done(self, title: &'static str, body: &'static str) -> Self {
        TokenLink {
            done: (title, body),
            ..self
        }
    }

    /// With the answer when the token is not (or no longer) good.
    pub const fn invalid(self, title: &'static str, body: &'static str) -> Self {
        TokenLink {
            invalid: (title, body),
            ..self
        }
    }

    /// The GET: the button page when the token is `known`, else the
    /// invalid message.
    fn show(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        lang: Lang,
        token: &str,
        known: anyhow::Result<bool>,
    ) -> Response {
        match known {
            Ok(true) => {
                let (csrf, set_cookie) = csrf_token(state, headers);
                let vars = minijinja::Value::from_iter(self.vars.iter().copied());
                render(
                    state,
                    lang,
                    self.page,
                    StatusCode::OK,
                    minijinja::context! { csrf, token => super::url_safe(token), ..vars },
                    set_cookie,
                )
            }
            Ok(false) => self.invalid_answer(state, lang),
            Err(e) => internal_error(state, lang, self.what, &format!("{e:#}")),
        }
    }

    /// The POST's answer: done when the link `acted`, else invalid.
    fn answer(&self, state: &AppState, lang: Lang, acted: anyhow::Result<bool>) -> Response {
        match acted {
            Ok(true) => message(state, lang, StatusCode::OK, self.done.0, self.done.1),
            Ok(false) => self.invalid_answer(state, lang),
            Err(e) => internal_error(state, lang, self.what, &format!("{e:#}")),
        }
    }

    fn invalid_answer(&self, state: &AppState, lang: Lang) -> Response {
        message(
            state,
            lang,
            StatusCode::NOT_FOUND,
            self.invalid.0,
            self.invalid.1,
        )
    }
}
