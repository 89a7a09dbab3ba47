//! Letters to officials in the console (role organiser or admin): the
//! officials directory with the CSV import (every bad row shown by line,
//! column and reason, nothing stored until all are good), letter campaigns
//! (a draft, its texts per language, its targets), the preview for one
//! official and a sample signer (`nasvyazi_letters::render`: what is
//! previewed is what is sent), approve / close / cancel, signatures,
//! per-official progress, and the `unknown` letters to resolve.
//! Everything goes through `nasvyazi_letters` (`officials`, `campaign`,
//! `progress`); these pages must never hold its SQL.

use axum::body::Bytes;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use nasvyazi_letters::campaign::{self as domain, Conflict, Letter, LetterInput, Step};
use nasvyazi_letters::officials::{self, csv_io};
use nasvyazi_letters::render::{LetterContext, OfficialCtx, SignerCtx, render};
use nasvyazi_letters::{LetterTemplate, progress, records, signatures};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::{self, Lang};
use serde::Deserialize;
use uuid::Uuid;

use super::account::DoneQuery;
use super::page::{Form, PageResult, Problem, done, notice, render_status};
use super::session::Session;
use super::words;
use crate::AppState;

const ROLES: &[Role] = &[Role::Organiser];

fn tz(state: &AppState) -> Tz {
    state
        .infra
        .config
        .campaigns
        .default_time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Almaty)
}

async fn officials_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    result: Option<minijinja::Value>,
) -> PageResult {
    let list: Vec<_> = officials::list(&state.infra.db, &state.keys)
        .await?
        .into_iter()
        .map(|o| {
            minijinja::context! {
                name => o.name, position => o.position, organisation => o.organisation,
                language => o.language.code(), time_zone => o.time_zone.name(),
                hours => o.hours.to_string(), cap => o.daily_cap,
            }
        })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "letters",
        "console/officials.html",
        status,
        minijinja::context! { officials => list, notice, result, max_rows => csv_io::MAX_ROWS },
    ))
}

/// `GET /admin/officials`.
pub async fn officials(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    officials_page(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

/// `POST /admin/officials/import` (multipart: `csrf`, `file`): all rows or
/// none; the bad rows listed.
pub async fn import(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    mut multipart: Multipart,
) -> PageResult {
    s.require(ROLES)?;
    let (mut csrf, mut file) = (String::new(), None::<Bytes>);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| anyhow::anyhow!("multipart: {}", e.body_text()))?
    {
        match field.name() {
            Some("csrf") => {
                csrf = field
                    .text()
                    .await
                    .map_err(|e| anyhow::anyhow!("multipart: {}", e.body_text()))?
            }
            Some("file") => {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| anyhow::anyhow!("multipart: {}", e.body_text()))?,
                )
            }
            _ => {}
        }
    }
    if !s.csrf_ok(&csrf) {
        return Err(Problem::Csrf);
    }
    let bytes = file.unwrap_or_default();
    if bytes.is_empty() {
        let result = minijinja::context! { empty => true };
        return officials_page(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(result),
        )
        .await;
    }
    match csv_io::parse(&state.infra.config, &bytes) {
        Ok(rows) => {
            let done = officials::import(
                &state.infra.db,
                &state.keys,
                &s.principal().actor(),
                Some(s.user.role),
                &rows,
            )
            .await?;
            let result = minijinja::context! { created => done.created, updated => done.updated };
            officials_page(&state, &s, &uri, StatusCode::OK, None, Some(result)).await
        }
        Err(errors) => {
            let errors: Vec<_> = errors
                .iter()
                .map(|e| {
                    minijinja::context! {
                        row => e.row, column => &e.column,
                        reason => reason_text(s.user.lang, &e.reason),
                    }
                })
                .collect();
            let result = minijinja::context! { errors };
            officials_page(
                &state,
                &s,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(result),
            )
            .await
        }
    }
}

/// The import's reason (English, from `officials::csv_io`) in the
/// person's language; one we do not know stays as it is.
fn reason_text(lang: Lang, reason: &str) -> String {
    let key = match reason {
        "unknown column" => "unknown_column",
        "column given twice" => "column_twice",
        "required column missing" => "column_missing",
        "the header row is not valid UTF-8 CSV" => "header_utf8",
        "not valid UTF-8 CSV" => "utf8",
        "too many rows (at most 5000 per file)" => "too_many",
        "wrong number of fields" => "field_count",
        "required, one line, at most 300 characters" => "text_field",
        "ru, kk or en" => "language",
        "an IANA time zone such as Asia/Almaty" => "time_zone",
        "days and hours like Mon-Fri 09:00-18:00" => "office_hours",
        "a whole number of at least 1, or empty" => "daily_cap",
        "at most 100000" => "daily_cap_max",
        "not a valid email address" => "email",
        other => match other.strip_prefix("the same address as row ") {
            Some(n) => {
                return i18n::fill(
                    &i18n::t(lang, "console.csv_reason.same_address"),
                    &[("n", n)],
                );
            }
            None => return other.to_string(),
        },
    };
    i18n::t(lang, &format!("console.csv_reason.{key}"))
}

/// `GET /admin/officials/export.csv`: the directory as the import takes it.
pub async fn export(State(state): State<AppState>, s: Session) -> Result<Response, Problem> {
    s.require(ROLES)?;
    let all = officials::list(&state.infra.db, &state.keys).await?;
    let mut tx = state.infra.db.begin().await?;
    nasvyazi_shared::auth::audit(
        &mut tx,
        &s.principal().actor(),
        Some(s.user.role),
        "official.export",
        None,
        serde_json::json!({ "rows": all.len() }),
    )
    .await?;
    tx.commit().await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"officials.csv\"",
            ),
        ],
        csv_io::export(&all)?,
    )
        .into_response())
}

/// `GET /admin/letters`.
pub async fn list(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    list_page(
        &state,
        &s,
        &uri,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

async fn list_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let rows = Letter::cancelled_last(&state.infra.db, 200).await?;
    let now = Utc::now();
    let mut items = Vec::with_capacity(rows.len());
    for l in rows {
        let signed = signatures::confirmed_count(&state.infra.db, l.id).await?;
        items.push(minijinja::context! {
            id => l.id, name => &l.name, slug => &l.slug, mode => &l.mode,
            status => l.derived_status(&state.infra.db, now).await?, signed,
        });
    }
    Ok(render_status(
        state,
        s,
        uri,
        "letters",
        "console/letters.html",
        status,
        minijinja::context! { letters => items, notice, error },
    ))
}

fn conflict_key(c: Conflict) -> &'static str {
    match c {
        Conflict::Slug => "console.letter.slug_taken",
        Conflict::State(_) => "console.letter.refused",
        Conflict::NotFound => "console.letter.refused",
    }
}

fn invalid_key(field: &str) -> String {
    format!("console.letter.invalid_{}", field.replace('.', "_"))
}

/// `POST /admin/letters/new`: a draft (name, slug, mode); then its texts.
pub async fn create(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let input = LetterInput {
        name: form.get("name").to_string(),
        slug: form.get("slug").to_string(),
        mode: form.get("mode").to_string(),
        templates: Default::default(),
        targets: Vec::new(),
        reply_to: None,
        send_at: local_instant(&state, form.get("send_at")),
        closes_at: None,
        official_interval_minutes: None,
        domain_per_minute: None,
    };
    let valid = match input.validate() {
        Ok(v) => v,
        Err(e) => {
            return list_page(
                &state,
                &s,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(invalid_key(e.field)),
            )
            .await;
        }
    };
    match domain::create(&state.infra.db, &s.principal(), &valid).await? {
        Ok(id) => Ok(done(&format!("/admin/letters/{id}/edit"), "created")),
        Err(c) => {
            list_page(
                &state,
                &s,
                &uri,
                StatusCode::CONFLICT,
                None,
                Some(conflict_key(c).into()),
            )
            .await
        }
    }
}

fn local_instant(state: &AppState, s: &str) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M").ok()?;
    tz(state)
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn local_input(state: &AppState, t: Option<DateTime<Utc>>) -> String {
    t.map(|t| {
        t.with_timezone(&tz(state))
            .format("%Y-%m-%dT%H:%M")
            .to_string()
    })
    .unwrap_or_default()
}

async fn load(state: &AppState, id: Uuid) -> Result<Letter, Problem> {
    Letter::load(&state.infra.db, id)
        .await?
        .ok_or(Problem::NotFound)
}

#[derive(Deserialize)]
pub struct LetterQuery {
    pub done: Option<String>,
    pub lang: Option<String>,
    /// Preview: the official.
    pub official: Option<Uuid>,
    #[serde(default)]
    pub signer_name: String,
    #[serde(default)]
    pub signer_city: String,
}

/// `GET /admin/letters/{id}`: status, signatures, progress per official,
/// unknown letters, the preview.
pub async fn overview(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<LetterQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let l = load(&state, id).await?;
    overview_page(&state, &s, &uri, &l, &q, StatusCode::OK, None).await
}

async fn overview_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    l: &Letter,
    q: &LetterQuery,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let db = &state.infra.db;
    let from = &state.infra.config.email.from;
    let p = progress::progress(db, &state.keys, l, from).await?;
    let tz = tz(state);
    let names: std::collections::HashMap<Uuid, String> = p
        .officials
        .iter()
        .map(|o| (o.official_id, o.name.clone()))
        .collect();
    let unknown: Vec<_> = p
        .unknown
        .iter()
        .map(|u| {
            minijinja::context! {
                delivery_id => u.delivery_id, official => names.get(&u.official_id),
                message_id => &u.message_id, since => words::short(u.since, tz),
                error => &u.last_error,
            }
        })
        .collect();
    let preview = preview(state, l, q).await?;
    let targets: Vec<_> = p
        .officials
        .iter()
        .map(|o| minijinja::context! { id => o.official_id, name => &o.name })
        .collect();
    Ok(render_status(
        state,
        s,
        uri,
        "letters",
        "console/letter.html",
        status,
        minijinja::context! {
            notice => notice(q.done.as_deref()), error,
            letter => minijinja::context! {
                id => l.id, name => &l.name, slug => &l.slug, mode => &l.mode,
                raw_status => &l.status, status => &p.status,
                send_at => l.send_at.map(|t| words::datetime(s.user.lang, t, tz)),
                closes_at => l.closes_at.map(|t| words::datetime(s.user.lang, t, tz)),
            },
            signatures => &p.signatures, totals => &p.totals, officials => &p.officials,
            unknown, targets, preview,
            sample => minijinja::context! {
                official => q.official, name => &q.signer_name, city => &q.signer_city,
                lang => q.lang.as_deref().unwrap_or(""),
            },
            public_url => format!("{}/letters/{}", state.infra.config.public_base(), l.slug),
        },
    ))
}

/// The letter for one official and a sample signer, rendered by the same
/// code the sender uses.
async fn preview(
    state: &AppState,
    l: &Letter,
    q: &LetterQuery,
) -> Result<Option<minijinja::Value>, Problem> {
    let db = &state.infra.db;
    let targets = l.targets(db).await?;
    let Some(official_id) = q
        .official
        .filter(|o| targets.contains(o))
        .or_else(|| targets.first().copied())
    else {
        return Ok(None);
    };
    let Some(official) = records::load_official(db, &state.keys, official_id).await? else {
        return Ok(None);
    };
    // A sample signer (placeholders when none was typed).
    let or = |typed: &str, key: &str| {
        let typed = typed.trim();
        if typed.is_empty() {
            i18n::t(official.language, key)
        } else {
            typed.to_string()
        }
    };
    let sample = SignerCtx {
        name: or(&q.signer_name, "console.letter.sample_name_default"),
        city: or(&q.signer_city, "console.letter.sample_city_default"),
        note: String::new(),
    };
    let (signer, signatories) = if l.mode == "each" {
        (Some(sample), Vec::new())
    } else {
        let mut list: Vec<SignerCtx> = records::confirmed_signers(db, &state.keys, l.id)
            .await?
            .into_iter()
            .map(|x| SignerCtx {
                name: x.name,
                city: x.city,
                note: x.note.unwrap_or_default(),
            })
            .collect();
        if !q.signer_name.trim().is_empty() {
            list.push(sample);
        }
        (None, list)
    };
    let config = &state.infra.config;
    let ctx = LetterContext {
        org: config.organisation.name.clone(),
        letter: l.name.clone(),
        official: OfficialCtx {
            name: official.name.clone(),
            position: official.position.clone(),
            organisation: official.organisation.clone(),
        },
        count: signatories.len(),
        signer,
        signatories,
    };
    let lang = q
        .lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or(official.language);
    Ok(Some(match render(&l.templates, lang, &ctx) {
        Ok(letter) => minijinja::context! {
            official => official.name, subject => letter.subject, text => letter.text,
            language => letter.language, from => &config.email.from,
        },
        Err(e) => minijinja::context! { official => official.name, error => e.to_string() },
    }))
}

/// `GET /admin/letters/{id}/edit?lang=ru`.
pub async fn edit_form(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<LetterQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let l = load(&state, id).await?;
    let lang = q.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::Ru);
    let targets = l.targets(&state.infra.db).await?;
    let input = input_of(&l, targets);
    edit_page(
        &state,
        &s,
        &uri,
        &l,
        &input,
        lang,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

fn input_of(l: &Letter, targets: Vec<Uuid>) -> LetterInput {
    LetterInput {
        name: l.name.clone(),
        slug: l.slug.clone(),
        mode: l.mode.clone(),
        templates: l.templates.0.clone(),
        targets,
        reply_to: l.reply_to.clone(),
        send_at: l.send_at,
        closes_at: l.closes_at,
        official_interval_minutes: l.official_interval_minutes.map(|n| n.max(0) as u32),
        domain_per_minute: l.domain_per_minute.map(|n| n.max(0) as u32),
    }
}

#[allow(clippy::too_many_arguments)]
async fn edit_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    l: &Letter,
    input: &LetterInput,
    lang: Lang,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> PageResult {
    let officials: Vec<_> = officials::list(&state.infra.db, &state.keys)
        .await?
        .into_iter()
        .map(|o| {
            minijinja::context! {
                id => o.id, name => o.name, position => o.position,
                chosen => input.targets.contains(&o.id),
            }
        })
        .collect();
    let own = input
        .templates
        .get(lang.code())
        .cloned()
        .unwrap_or_default();
    Ok(render_status(
        state,
        s,
        uri,
        "letters",
        "console/letter_edit.html",
        status,
        minijinja::context! {
            letter => minijinja::context! {
                id => l.id, name => &input.name, slug => &input.slug, mode => &input.mode,
                reply_to => &input.reply_to,
                send_at => local_input(state, input.send_at),
                closes_at => local_input(state, input.closes_at),
            },
            own => minijinja::context! { subject => own.subject, body => own.body, page_text => own.page_text },
            text_lang => lang.code(), officials, notice, error,
            editable => l.status == "draft",
        },
    ))
}

/// `POST /admin/letters/{id}/edit`: the whole draft (settings, targets,
/// this language's texts).
pub async fn edit_save(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let l = load(&state, id).await?;
    let lang = Lang::parse(form.get("text_lang")).unwrap_or(Lang::Ru);
    let mut input = input_of(&l, l.targets(&state.infra.db).await?);
    input.name = form.get("name").to_string();
    input.slug = form.get("slug").to_string();
    input.mode = form.get("mode").to_string();
    input.reply_to = Some(form.get("reply_to").to_string());
    input.send_at = local_instant(&state, form.get("send_at"));
    input.closes_at = local_instant(&state, form.get("closes_at"));
    input.targets = form
        .all("targets")
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    let text = |k: &str| {
        let v = form.raw(k).replace("\r\n", "\n");
        (!v.trim().is_empty()).then_some(v)
    };
    let t = LetterTemplate {
        subject: text("subject").map(|v| v.trim().to_string()),
        body: text("body"),
        page_text: text("page_text"),
    };
    if t == LetterTemplate::default() {
        input.templates.remove(lang.code());
    } else {
        input.templates.insert(lang.code().to_string(), t);
    }
    let refused = |key: String| {
        let (state, s, uri, l, input) = (&state, &s, &uri, &l, &input);
        async move {
            edit_page(
                state,
                s,
                uri,
                l,
                input,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(key),
            )
            .await
        }
    };
    let valid = match input.validate() {
        Ok(v) => v,
        Err(e) => return refused(invalid_key(e.field)).await,
    };
    if let Err(e) = domain::check_targets(&state.infra.db, &valid.targets).await? {
        return refused(invalid_key(e.field)).await;
    }
    match domain::update(&state.infra.db, &s.principal(), id, &valid).await? {
        Ok(()) => Ok(done(
            &format!("/admin/letters/{id}/edit?lang={}", lang.code()),
            "saved",
        )),
        Err(Conflict::NotFound) => Err(Problem::NotFound),
        Err(c) => refused(conflict_key(c).into()).await,
    }
}

/// `POST /admin/letters/{id}/action`: `approve`, `close` or `cancel`.
pub async fn action(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let (step, notice) = match form.get("action") {
        "approve" => (Step::Approve, "letter_approved"),
        "close" => (Step::Close, "closed"),
        "cancel" => (Step::Cancel, "cancelled"),
        _ => return Err(Problem::NotFound),
    };
    match domain::step(&state.infra.db, &s.principal(), id, step).await? {
        Ok(()) => Ok(done(&format!("/admin/letters/{id}"), notice)),
        Err(Conflict::NotFound) => Err(Problem::NotFound),
        Err(_) => {
            let l = load(&state, id).await?;
            let q = LetterQuery {
                done: None,
                lang: None,
                official: None,
                signer_name: String::new(),
                signer_city: String::new(),
            };
            overview_page(
                &state,
                &s,
                &uri,
                &l,
                &q,
                StatusCode::CONFLICT,
                Some("console.letter.step_refused"),
            )
            .await
        }
    }
}

/// `POST /admin/letters/{id}/resolve`: `delivery`, `resolution` = `sent`
/// (it arrived) or `requeue` (send it again).
pub async fn resolve(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let delivery: Uuid = form
        .get("delivery")
        .parse()
        .map_err(|_| Problem::NotFound)?;
    let resolution = match form.get("resolution") {
        "sent" => "sent",
        "requeue" => "requeue",
        _ => return Err(Problem::NotFound),
    };
    match progress::resolve(&state.infra.db, &s.principal(), id, delivery, resolution).await? {
        Ok(()) => Ok(done(&format!("/admin/letters/{id}"), "resolved")),
        Err(_) => Err(Problem::NotFound),
    }
}
