//! The one CSRF scheme of every form the front serves: the public pages,
//! the console's sign-in forms and the signed-in console. A form carries a
//! token in a hidden `csrf` field; a POST is ours only when that token
//! equals, in constant time (`nasvyazi_crypto::ct_eq`), the one the server
//! bound to the client:
//!
//! - before a session ([`PUBLIC`], [`SIGN_IN`]): a token the server
//!   minted (a nonce and its HMAC under the blind-index key, per scope),
//!   held in an `HttpOnly; SameSite=Strict` cookie. A value the client
//!   chose (a sibling host's cookie, an old cookie) is not one the server
//!   made and is refused;
//! - in a console session ([`of_session`]): derived from the session's
//!   secret, so it needs no storage and dies with the session.
//!
//! Must never: accept a token it did not mint, compare tokens with `==`,
//! or log a token.

use axum::http::{HeaderMap, HeaderValue};
use nasvyazi_shared::crypto::{ct_eq, random_token, token_hash};

use crate::AppState;

/// Where a minted token lives and what it is for.
pub struct Scope {
    /// The cookie holding the token.
    pub cookie: &'static str,
    /// The HMAC's purpose: a token of one scope is worth nothing in another.
    purpose: &'static str,
    /// `Secure` always (a `__Host-` cookie), or only when the public URL is
    /// https (the public pages are also served over plain HTTP to Tor).
    always_secure: bool,
}

/// The public pages' forms (subscribe, sign, appeal, talk, forget, surveys).
pub const PUBLIC: Scope = Scope {
    cookie: "nsv_csrf",
    purpose: "public-csrf",
    always_secure: false,
};

/// The console's forms before sign-in. `__Host-` needs `Secure`; browsers
/// treat http://127.0.0.1 as secure, as for the session cookie.
pub const SIGN_IN: Scope = Scope {
    cookie: "__Host-nsv_sign_in",
    purpose: "console-sign-in-csrf",
    always_secure: true,
};

impl Scope {
    /// The token for a form page: the cookie's if the server made it, else
    /// a new one (returned with its `Set-Cookie`).
    pub fn token(&self, state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        if let Some(t) =
            crate::pages::cookie(headers, self.cookie).filter(|t| self.minted(state, t))
        {
            return (t, None);
        }
        let nonce = random_token(18);
        let t = format!("{nonce}.{}", state.keys.opaque_id(self.purpose, &nonce));
        let secure =
            self.always_secure || state.infra.config.http.public_url.starts_with("https://");
        let cookie = format!(
            "{}={t}; Path=/; HttpOnly; SameSite=Strict{}",
            self.cookie,
            if secure { "; Secure" } else { "" }
        );
        (t, HeaderValue::from_str(&cookie).ok())
    }

    /// Whether `token` is one the server made for this scope.
    pub fn minted(&self, state: &AppState, token: &str) -> bool {
        let Some((nonce, mac)) = token.split_once('.') else {
            return false;
        };
        (20..=40).contains(&nonce.len())
            && ct_eq(
                mac.as_bytes(),
                state.keys.opaque_id(self.purpose, nonce).as_bytes(),
            )
    }

    /// Whether a posted form carries the token its cookie holds, and the
    /// server made that token.
    pub fn ok(&self, state: &AppState, headers: &HeaderMap, posted: Option<&str>) -> bool {
        match (crate::pages::cookie(headers, self.cookie), posted) {
            (Some(c), Some(p)) => self.minted(state, &c) && ct_eq(c.as_bytes(), p.as_bytes()),
            _ => false,
        }
    }
}

/// A console session's token, derived from its secret.
pub fn of_session(secret: &str) -> String {
    let digest = token_hash(&format!("nasvyazi-console-csrf:{secret}"));
    digest[..24].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `posted` is the session's token.
pub fn session_ok(expected: &str, posted: &str) -> bool {
    ct_eq(expected.as_bytes(), posted.as_bytes())
}
