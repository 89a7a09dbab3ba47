//! The appeal pages: `/appeal` (the form, then the case number and access
//! code, shown once), `/appeal/status` (status with the pair, and a form to
//! add information) and `/appeal/status/add`.
//!
//! No JavaScript: the place is one select with a group per region. Every
//! form carries the CSRF token and a honeypot; every wrong pair gets the
//! same page. Nothing here logs what a person typed.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use nasvyazi_cases::appeals::stored::CATEGORIES;
use nasvyazi_shared::i18n::Lang;
use serde::Serialize;

use super::subscribe::LangQuery;
use super::{
    csrf_ok, csrf_refused, csrf_token, field, internal_error, language, message, parse_form, render,
};
use crate::AppState;
use crate::appeals::sites;
use crate::appeals::{ContactInput, Input, Purpose, model, store};
use crate::limits::ClientIp;

/// What the person typed, to show the form again after a mistake.
#[derive(Default, Serialize)]
struct FormValues {
    category: String,
    /// `region/city`.
    place: String,
    site: String,
    text: String,
    contact_kind: String,
    contact: String,
    consent: bool,
}

async fn form_page(
    state: &AppState,
    headers: &HeaderMap,
    lang: Lang,
    status: StatusCode,
    form: FormValues,
    error: Option<&str>,
) -> Response {
    let (csrf, set_cookie) = csrf_token(state, headers);
    let regions = nasvyazi_supporters::regions::load(&state.infra.db)
        .await
        .unwrap_or_default();
    let sites = sites::list(&state.infra.db, false, None)
        .await
        .unwrap_or_default();
    render(
        state,
        lang,
        "appeal.html",
        status,
        minijinja::context! { csrf, form, error, categories => CATEGORIES, regions, sites },
        set_cookie,
    )
}

fn rate_limited(state: &AppState, lang: Lang, wait: std::time::Duration) -> Response {
    let mut res = message(
        state,
        lang,
        StatusCode::TOO_MANY_REQUESTS,
        "appeal.rate_limited_title",
        "appeal.rate_limited_body",
    );
    if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

pub async fn appeal_form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    form_page(
        &state,
        &headers,
        lang,
        StatusCode::OK,
        FormValues::default(),
        None,
    )
    .await
}

fn created_page(state: &AppState, lang: Lang, case_number: &str, access_code: &str) -> Response {
    render(
        state,
        lang,
        "appeal_created.html",
        StatusCode::OK,
        minijinja::context! { case_number, access_code },
        None,
    )
}

pub async fn appeal_submit(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    client: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Submit, &client).await {
        return rate_limited(&state, lang, wait);
    }
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return csrf_refused(&state, lang);
    }
    // A filled honeypot is a bot: a plausible answer, nothing stored.
    if field(&form, "website").is_some_and(|v| !v.is_empty()) {
        let code = model::new_access_code();
        return created_page(&state, lang, &model::new_case_number(), &code);
    }
    let get = |k: &str| field(&form, k).unwrap_or("").to_string();
    let values = FormValues {
        category: get("category"),
        place: get("place"),
        site: get("site"),
        text: get("text"),
        contact_kind: get("contact_kind"),
        contact: get("contact"),
        consent: field(&form, "consent").is_some_and(|v| v == "yes"),
    };
    let (region, city) = values.place.split_once('/').unwrap_or(("", ""));
    let contact = match values.contact_kind.as_str() {
        "email" => Some(ContactInput::Email(values.contact.clone())),
        "telegram" => Some(ContactInput::Telegram(values.contact.clone())),
        _ => None,
    };
    let (places, known_sites) = match (
        nasvyazi_supporters::regions::load(&state.infra.db).await,
        sites::active_refs(&state.infra.db).await,
    ) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(e), _) | (_, Err(e)) => {
            return internal_error(
                &state,
                lang,
                "appeal form: cannot load places or sites",
                &format!("{e:#}"),
            );
        }
    };
    let valid = Input {
        category: &values.category,
        region,
        city,
        site: Some(values.site.as_str()),
        text: &values.text,
        contact: contact.as_ref(),
        consent_to_forward: values.consent,
        language: lang,
    }
    .validate(&places, &known_sites);
    let valid = match valid {
        Ok(v) => v,
        Err(invalid) => {
            let key = invalid.message_key();
            return form_page(
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
    match store::submit_via(&state.infra.db, &state.keys, &valid, onion).await {
        Ok(created) => created_page(&state, lang, &created.case_number, &created.access_code),
        Err(e) => internal_error(
            &state,
            lang,
            "appeal could not be stored",
            &format!("{e:#}"),
        ),
    }
}

pub async fn status_form(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    let (csrf, set_cookie) = csrf_token(&state, &headers);
    render(
        &state,
        lang,
        "appeal_status_form.html",
        StatusCode::OK,
        minijinja::context! { csrf },
        set_cookie,
    )
}

/// The one page every wrong pair gets.
fn no_such_pair(state: &AppState, lang: Lang) -> Response {
    message(
        state,
        lang,
        StatusCode::NOT_FOUND,
        "appeal.not_found_title",
        "appeal.not_found_body",
    )
}

pub async fn status_submit(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    client: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Status, &client).await {
        return rate_limited(&state, lang, wait);
    }
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return csrf_refused(&state, lang);
    }
    let case_number = field(&form, "case_number").unwrap_or("");
    let access_code = field(&form, "access_code").unwrap_or("");
    match store::lookup(&state.infra.db, &state.keys, case_number, access_code).await {
        Ok(Some(found)) => {
            let (csrf, set_cookie) = csrf_token(&state, &headers);
            render(
                &state,
                lang,
                "appeal_status.html",
                StatusCode::OK,
                minijinja::context! {
                    csrf,
                    case_number => found.case_number,
                    // Carried to the add form; the page is never cached.
                    access_code,
                    status => found.status,
                    received => found.created_at.format("%Y-%m-%d").to_string(),
                    updated => found.updated_at.format("%Y-%m-%d").to_string(),
                    additions => found.additions,
                },
                set_cookie,
            )
        }
        Ok(None) => no_such_pair(&state, lang),
        Err(e) => internal_error(
            &state,
            lang,
            "appeal status lookup failed",
            &format!("{e:#}"),
        ),
    }
}

pub async fn add_submit(
    State(state): State<AppState>,
    Query(q): Query<LangQuery>,
    client: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lang = language(q.lang.as_deref(), &headers);
    if let Err(wait) = crate::limits::appeal_allowed(&state, Purpose::Status, &client).await {
        return rate_limited(&state, lang, wait);
    }
    let form = parse_form(&body);
    if !csrf_ok(&state, &headers, field(&form, "csrf")) {
        return csrf_refused(&state, lang);
    }
    let Some(text) = model::valid_text(field(&form, "text").unwrap_or("")) else {
        return message(
            &state,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            "error.title",
            "appeal.invalid_text",
        );
    };
    let case_number = field(&form, "case_number").unwrap_or("");
    let access_code = field(&form, "access_code").unwrap_or("");
    match store::add_information(
        &state.infra.db,
        &state.keys,
        case_number,
        access_code,
        &text,
    )
    .await
    {
        Ok(true) => message(
            &state,
            lang,
            StatusCode::OK,
            "appeal.added_title",
            "appeal.added_body",
        ),
        Ok(false) => no_such_pair(&state, lang),
        Err(e) => internal_error(&state, lang, "appeal addition failed", &format!("{e:#}")),
    }
}
