//! The signing pages: `/letters/{slug}` (the form), `/letters/confirm/{token}`
//! and `/letters/withdraw/{token}` (GET shows a button, POST acts: mail
//! scanners open links). ru / kk / en, no JavaScript, CSRF on every form.
//! The letters, their officials and signatures are `nasvyazi-letters`'.
//! It must never reveal whether an address signed, nor show an official's
//! address.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Utc;
use nasvyazi_letters::campaign::Letter;
use nasvyazi_letters::render::{Field, pick};
use nasvyazi_letters::signatures::{self, Signing, Withdrawal};
use nasvyazi_shared::i18n::Lang;

use super::subscribe::LangQuery;
use super::token_link::{Confirms, Link, TokenLink};
use super::{csrf_token, field, internal_error, language, message, render};
use crate::AppState;
use crate::pages::PostedForm;

#[derive(Debug, Default, serde::Serialize)]
struct FormValues {
    name: String,
    city: String,
    email: String,
    note: String,
    consent: bool,
    reply_to: bool,
}

/// The letter if it takes signatures now, else the page to show instead.
async fn collecting(state: &AppState, lang: Lang, slug: &str) -> Result<Letter, Response> {
    let letter = match Letter::by_slug(&state.infra.db, slug).await {
        Ok(l) => l,
        Err(e) => return Err(internal_error(state, lang, "letter page", &e)),
    };
    match letter {
        Some(l) if l.collecting(Utc::now()) => Ok(l),
        Some(l) if l.status == "approved" || l.status == "cancelled" => Err(message(
            state,
            lang,
            StatusCode::GONE,
            "letters.closed_title",
            "letters.closed_body",
        )),
        _ => Err(message(
            state,
            lang,
            StatusCode::NOT_FOUND,
            "letters.not_found_title",
            "letters.not_found_body",
        )),
    }
}

async fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    letter: &Letter,
    status: StatusCode,
    form: FormValues,
    error: Option<&str>,
) -> Response {
    let db = &state.infra.db;
    let count = signatures::confirmed_count(db, letter.id)
        .await
        .unwrap_or(0);
    // Whom the letter goes to: positions and organisations (the public
    // page of a public letter), never addresses.
    let mut targets = Vec::new();
    for id in letter.targets(db).await.unwrap_or_default() {
        if let Ok(Some(o)) = nasvyazi_letters::records::load_official(db, &state.keys, id).await {
            targets.push(format!("{}, {}", o.position, o.organisation));
        }
    }
    let page_text: Vec<String> = pick(&letter.templates, lang, Field::PageText)
        .unwrap_or("")
        .split("\n\n")
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    let (csrf, set_cookie) = csrf_token(state, headers);
    render(
        state,
        lang,
        "letter.html",
        status,
        minijinja::context! {
            csrf, form, error, targets, page_text, count,
            slug => &letter.slug, letter_name => &letter.name,
        },
        set_cookie,
    )
}

pub async fn sign_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    match collecting(&state, lang, &slug).await {
        Ok(letter) => {
            let form = FormValues {
                consent: false,
                ..Default::default()
            };
            form_page(&state, &headers, lang, &letter, StatusCode::OK, form, None).await
        }
        Err(page) => page,
    }
}

pub async fn sign_submit(Path(slug): Path<String>, posted: PostedForm) -> Response {
    let (state, lang, headers, form) = posted.into_parts();
    let letter = match collecting(&state, lang, &slug).await {
        Ok(l) => l,
        Err(page) => return page,
    };
    let accepted = || {
        message(
            &state,
            lang,
            StatusCode::OK,
            "letters.accepted_title",
            "letters.accepted_body",
        )
    };
    // A filled honeypot is a bot: answer as if accepted, store nothing.
    if field(&form, "website").is_some_and(|v| !v.is_empty()) {
        return accepted();
    }
    let values = FormValues {
        name: field(&form, "name").unwrap_or("").to_string(),
        city: field(&form, "city").unwrap_or("").to_string(),
        email: field(&form, "email").unwrap_or("").to_string(),
        note: field(&form, "note").unwrap_or("").to_string(),
        consent: field(&form, "consent").is_some(),
        reply_to: field(&form, "reply_to").is_some(),
    };
    let signing = match Signing::parse(
        &values.name,
        &values.city,
        &values.email,
        &values.note,
        values.consent,
        values.reply_to,
        lang,
    ) {
        Ok(s) => s,
        Err(invalid) => {
            let key = invalid.message_key();
            return form_page(
                &state,
                &headers,
                lang,
                &letter,
                StatusCode::UNPROCESSABLE_ENTITY,
                values,
                Some(key),
            )
            .await;
        }
    };
    let req = signatures::SigningRequest {
        letter_id: letter.id,
        signing: &signing,
    };
    match state
        .request_opt_in(&req, super::via_onion(&state, &headers))
        .await
    {
        Ok(()) => accepted(),
        Err(e) => internal_error(&state, lang, "signature", &format!("{e:#}")),
    }
}

/// The signer's confirmation link (it counts only while the letter
/// collects: the opt-in's statement says so).
impl Confirms for signatures::Signatures {
    const LINK: TokenLink = TokenLink::new("letter_confirm.html", "signature confirmation")
        .done("letters.confirm_done_title", "letters.confirm_done_body")
        .invalid(
            "letters.confirm_invalid_title",
            "letters.confirm_invalid_body",
        );
}

/// The signer's withdrawal link (its POST has a third answer: too late).
const WITHDRAW: TokenLink = TokenLink::new("letter_withdraw.html", "withdrawal")
    .done("letters.withdraw_done_title", "letters.withdraw_done_body")
    .invalid(
        "letters.withdraw_invalid_title",
        "letters.withdraw_invalid_body",
    );

pub async fn withdraw_page(link: Link) -> Response {
    let known = signatures::withdraw_token_known(&link.state.infra.db, &link.token).await;
    link.show(&WITHDRAW, known.map_err(Into::into))
}

pub async fn withdraw_submit(link: Link, body: Bytes) -> Response {
    if let Some(refused) = link.refused(&body) {
        return refused;
    }
    match signatures::withdraw(&link.state.infra.db, &link.token).await {
        Ok(Withdrawal::TooLate) => message(
            &link.state,
            link.lang,
            StatusCode::CONFLICT,
            "letters.withdraw_too_late_title",
            "letters.withdraw_too_late_body",
        ),
        done => link.answer(&WITHDRAW, done.map(|w| w == Withdrawal::Done)),
    }
}
