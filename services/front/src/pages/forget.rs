//! The "forget me" pages of appellants (`/appeal/forget/{token}`) and
//! signers (`/letters/forget/{token}`): GET shows what will be erased and a
//! button, POST erases (mail scanners open links; they do not submit
//! forms). ru / kk / en, CSRF on the form.

use axum::body::Bytes;
use axum::response::Response;

use super::token_link::{Link, TokenLink};
use crate::forget::{self, Kind};

/// The link of each kind: its catalog section and the form's path.
fn link(kind: Kind) -> &'static TokenLink {
    const APPELLANT: TokenLink = TokenLink::new("forget.html", "erasure")
        .vars(&[("prefix", "appeal_forget"), ("action", "/appeal/forget")])
        .done("appeal_forget.done_title", "appeal_forget.done_body")
        .invalid("appeal_forget.invalid_title", "appeal_forget.invalid_body");
    const SIGNER: TokenLink = TokenLink::new("forget.html", "erasure")
        .vars(&[("prefix", "letter_forget"), ("action", "/letters/forget")])
        .done("letter_forget.done_title", "letter_forget.done_body")
        .invalid("letter_forget.invalid_title", "letter_forget.invalid_body");
    match kind {
        Kind::Appellant => &APPELLANT,
        Kind::Signer => &SIGNER,
    }
}

async fn page(link: Link, kind: Kind) -> Response {
    let known = forget::token_known(&link.state.infra.db, kind, &link.token).await;
    link.show(self::link(kind), known.map_err(Into::into))
}

async fn submit(link: Link, kind: Kind, body: Bytes) -> Response {
    link.act(self::link(kind), &body, async |state, token| {
        forget::erase(&state.infra.db, kind, token).await
    })
    .await
}

pub async fn appeal_page(link: Link) -> Response {
    page(link, Kind::Appellant).await
}

pub async fn appeal_submit(link: Link, body: Bytes) -> Response {
    submit(link, Kind::Appellant, body).await
}

pub async fn signer_page(link: Link) -> Response {
    page(link, Kind::Signer).await
}

pub async fn signer_submit(link: Link, body: Bytes) -> Response {
    submit(link, Kind::Signer, body).await
}
