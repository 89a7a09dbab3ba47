//! Consultations in the console (role consultant or admin): the inbox with
//! its filters, and a conversation (decrypted on open; the read is audited
//! by `consultations::store::read`) with the reply form, canned answers,
//! internal notes, claim / hand over, tags, referral, close / reopen and
//! block. Files a person sent come through [`media`], which asks Telegram
//! server-side. Everything goes through `crate::consultations`.
//!
//! The person is only ever a pseudonym here: the store never gives a
//! Telegram name, username or chat id, and nothing here asks for one.
//!
//! The inbox also says what is wrong with the staff group, as counts and
//! flags only: the group is public (nothing is copied there, nothing from
//! it accepted), unchecked, or the bot may not delete there; and how many
//! erased conversations' topics Telegram has refused to delete so far
//! (retried by `staff_group::clean_up`), never which.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::ApiError;
use nasvyazi_shared::i18n::{self, Lang};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::page::{Form, PageResult, Problem, done, render, render_status, staff_problem};
use super::session::Session;
use super::words;
use crate::AppState;
use crate::auth::Admin;
use crate::consultations::store::{self, ConversationItem, Filter, MAX_REPLY_CHARS, StaffError};
use crate::consultations::{api, media as proxy, staff_group};
use nasvyazi_cases::staff::{self as cases, Case};

const ROLES: &[Role] = &[Role::Consultant];
const PAGE: i64 = 50;

/// The inbox's filters, in the order of its links.
pub const FILTERS: &[&str] = &[
    "open",
    "unassigned",
    "mine",
    "waiting_for_us",
    "waiting_for_person",
    "closed",
];

/// The notices this section's pages show after a change
/// (`console.conv.done.<x>`); anything else in the query is ignored.
const NOTICES: &[&str] = &[
    "replied",
    "noted",
    "claimed",
    "unassigned",
    "tagged",
    "referred",
    "closed",
    "reopened",
    "blocked",
    "canned_saved",
    "canned_deleted",
];

/// The notice key for `done`, if it is one of ours.
pub fn notice(done: Option<&str>) -> Option<String> {
    done.filter(|d| NOTICES.contains(d))
        .map(|d| format!("console.conv.done.{d}"))
}

/// The console's time zone for consultations (the organisation's hours).
fn tz(state: &AppState) -> chrono_tz::Tz {
    state
        .infra
        .config
        .consultations
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Almaty)
}

/// A configured code (tag, speciality) in words when the catalog has it,
/// else the code itself (organisations may configure their own).
pub fn label(lang: Lang, prefix: &str, code: &str) -> String {
    let key = format!("{prefix}.{code}");
    let s = i18n::t(lang, &key);
    if s == key { code.to_string() } else { s }
}

/// Telegram HTML (replies, the automatic answer) as plain text: tags
/// dropped, entities decoded. The page escapes it again; nothing a
/// consultant typed becomes markup in the console.
pub fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => in_tag = false,
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Whose a conversation is, as the inbox says it.
fn assigned(item: &ConversationItem, s: &Session) -> &'static str {
    match item.assigned_to {
        None => "nobody",
        Some(u) if u == s.user.id => "me",
        Some(_) => "someone",
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    pub view: String,
    /// A conversation number to open directly.
    #[serde(default)]
    pub number: String,
    #[serde(default)]
    pub offset: i64,
    pub done: Option<String>,
}

#[derive(Serialize)]
struct Row {
    id: Uuid,
    number: String,
    pseudonym: String,
    state: String,
    channel: String,
    waiting_for: String,
    assigned: &'static str,
    last: String,
    tags: Vec<String>,
}

/// `GET /admin/conversations`: newest first; no message text.
pub async fn list(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<ListQuery>,
) -> PageResult {
    s.require(ROLES)?;
    let db = &state.infra.db;
    let number = q.number.trim();
    if !number.is_empty() {
        match store::resolve(db, number).await {
            Ok(id) => {
                return Ok(Redirect::to(&format!("/admin/conversations/{id}")).into_response());
            }
            Err(StaffError::NotFound) => {}
            Err(e) => return Err(staff_problem(e)),
        }
    }
    let view = FILTERS
        .iter()
        .find(|f| **f == q.view)
        .copied()
        .unwrap_or("open");
    let filter = Filter {
        state: Some(if view == "closed" { "closed" } else { "open" }.to_string()),
        view: store::VIEWS.contains(&view).then(|| view.to_string()),
        limit: PAGE + 1,
        offset: q.offset.max(0),
    };
    let mut rows = store::list(state.staff(&s.principal()), &filter).await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let group =
        staff_group::console_status(db, &state.infra.config.consultations.staff_group).await?;
    let staff_group = minijinja::context! {
        public => group.public, unchecked => group.unchecked,
        cannot_delete => group.cannot_delete, pending => group.pending_cleanup,
    };
    let tz = tz(&state);
    let lang = s.user.lang;
    let items: Vec<Row> = rows
        .iter()
        .map(|c| Row {
            id: c.id,
            number: c.number.clone(),
            pseudonym: c.pseudonym.clone(),
            state: c.state.clone(),
            channel: c.channel.clone(),
            waiting_for: c.waiting_for.clone(),
            assigned: assigned(c, &s),
            last: words::short(c.last_message_at, tz),
            tags: c
                .tags
                .iter()
                .map(|t| label(lang, "console.conv.tag", t))
                .collect(),
        })
        .collect();
    Ok(render(
        &state,
        &s,
        &uri,
        "conversations",
        "console/conversations.html",
        minijinja::context! {
            items, more, view, filters => FILTERS,
            not_found => !number.is_empty(),
            next_offset => q.offset.max(0) + PAGE,
            notice => notice(q.done.as_deref()),
            staff_group,
        },
    ))
}

#[derive(Deserialize)]
pub struct OneQuery {
    pub done: Option<String>,
}

/// `GET /admin/conversations/{id}`: decrypts it; the read is audited.
pub async fn one(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    Query(q): Query<OneQuery>,
) -> PageResult {
    s.require(ROLES)?;
    conversation_page(
        &state,
        &s,
        &uri,
        id,
        StatusCode::OK,
        notice(q.done.as_deref()),
        None,
    )
    .await
}

/// A refused form: the key of the message, and what the store said (only
/// for texts the consultant typed: which tag is not allowed, say).
struct Refusal {
    key: &'static str,
    detail: Option<String>,
}

async fn conversation_page(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    id: Uuid,
    status: StatusCode,
    notice: Option<String>,
    refusal: Option<Refusal>,
) -> PageResult {
    let db = &state.infra.db;
    let c = store::read(state.staff(&s.principal()), id)
        .await
        .map_err(staff_problem)?;
    let lang = s.user.lang;
    let tz = tz(state);
    let conv_lang = Lang::parse(&c.item.language).unwrap_or(Lang::Ru);
    let messages: Vec<_> = c
        .messages
        .iter()
        .map(|m| {
            let text = m.text.as_deref().map(|t| {
                if m.from == "person" {
                    t.to_string()
                } else {
                    plain(t)
                }
            });
            let media = m.media.as_ref().map(|x| {
                minijinja::context! {
                    kind => &x.media.kind,
                    image => matches!(x.media.kind.as_str(), "photo" | "sticker"),
                    name => &x.media.file_name,
                    url => format!("/admin/conversations/{id}/media/{}", m.id),
                }
            });
            minijinja::context! {
                id => m.id, from => &m.from, text, media,
                at => words::short(m.at, tz),
                delivery => &m.delivery, delivery_error => &m.delivery_error,
            }
        })
        .collect();
    let notes: Vec<_> = c
        .notes
        .iter()
        .map(|n| minijinja::context! { text => &n.text, at => words::short(n.at, tz) })
        .collect();
    let canned: Vec<_> = store::canned_list(db, Some(conv_lang))
        .await?
        .into_iter()
        .map(|a| minijinja::context! { id => a.id, title => a.title, body => a.body })
        .collect();
    let config = &state.infra.config.consultations;
    let tags: Vec<_> = config
        .tags
        .iter()
        .map(|t| {
            minijinja::context! {
                code => t, name => label(lang, "console.conv.tag", t),
                on => c.item.tags.contains(t),
            }
        })
        .collect();
    let specialities: Vec<_> = config
        .specialities
        .iter()
        .map(|x| minijinja::context! { code => x, name => label(lang, "console.conv.speciality", x) })
        .collect();
    let item = &c.item;
    let conversation = minijinja::context! {
        id => item.id, number => &item.number, pseudonym => &item.pseudonym,
        state => &item.state, channel => &item.channel, waiting_for => &item.waiting_for,
        language => &item.language, assigned => assigned(item, s),
        referred_to => item.referred_to.as_deref().map(|x| label(lang, "console.conv.speciality", x)),
        tags => item.tags.iter().map(|t| label(lang, "console.conv.tag", t)).collect::<Vec<_>>(),
        opened => words::short(item.created_at, tz),
        last => words::short(item.last_message_at, tz),
    };
    let (error, error_detail) = match refusal {
        Some(r) => (Some(r.key), r.detail),
        None => (None, None),
    };
    Ok(render_status(
        state,
        s,
        uri,
        "conversations",
        "console/conversation.html",
        status,
        minijinja::context! {
            notice, error, error_detail, conversation, messages, notes, canned, tags,
            specialities, max_text => MAX_REPLY_CHARS,
        },
    ))
}

/// After a refused form: the conversation again, with why.
async fn refused(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    id: Uuid,
    e: StaffError,
    key: &'static str,
) -> PageResult {
    let (status, refusal) = match e {
        StaffError::Invalid(detail) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Refusal {
                key,
                detail: Some(detail),
            },
        ),
        StaffError::Conflict(_) => (
            StatusCode::CONFLICT,
            Refusal {
                key: "console.conv.conflict",
                detail: None,
            },
        ),
        other => return Err(staff_problem(other)),
    };
    conversation_page(state, s, uri, id, status, None, Some(refusal)).await
}

fn back(id: Uuid, what: &str) -> Response {
    done(&format!("/admin/conversations/{id}"), what)
}

/// `POST /admin/conversations/{id}/reply`: from the bot (or on the web
/// page), as the organisation; delivered at most once.
pub async fn reply(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    match store::reply(state.staff(&s.principal()), id, form.raw("text"), true).await {
        Ok(_) => Ok(back(id, "replied")),
        Err(e) => refused(&state, &s, &uri, id, e, "console.conv.reply_invalid").await,
    }
}

/// `POST /admin/conversations/{id}/note`: staff only, never sent.
pub async fn note(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    match store::note(state.staff(&s.principal()), id, form.raw("text")).await {
        Ok(_) => Ok(back(id, "noted")),
        Err(e) => refused(&state, &s, &uri, id, e, "console.conv.note_invalid").await,
    }
}

/// `POST /admin/conversations/{id}/claim`: to me.
pub async fn claim(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    cases::assign(
        state.staff(&s.principal()),
        Case::Conversation(id),
        Some(s.user.id),
    )
    .await
    .map_err(staff_problem)?;
    Ok(back(id, "claimed"))
}

/// `POST /admin/conversations/{id}/unassign`: hand over (to nobody: the
/// next consultant claims it).
pub async fn unassign(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    cases::assign(state.staff(&s.principal()), Case::Conversation(id), None)
        .await
        .map_err(staff_problem)?;
    Ok(back(id, "unassigned"))
}

/// `POST /admin/conversations/{id}/tags`: the checked boxes.
pub async fn tags(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let allowed = &state.infra.config.consultations.tags;
    match store::set_tags(state.staff(&s.principal()), id, &form.all("tag"), allowed).await {
        Ok(()) => Ok(back(id, "tagged")),
        Err(e) => refused(&state, &s, &uri, id, e, "console.conv.tags_invalid").await,
    }
}

/// `POST /admin/conversations/{id}/refer`: its people are alerted with
/// the number only.
pub async fn refer(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let allowed = &state.infra.config.consultations.specialities;
    match store::refer(state.staff(&s.principal()), id, form.get("to"), allowed).await {
        Ok(()) => Ok(back(id, "referred")),
        Err(e) => refused(&state, &s, &uri, id, e, "console.conv.refer_invalid").await,
    }
}

/// Closes or reopens through the API's own function (the staff forum
/// topic closes and reopens with it).
async fn change(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    id: Uuid,
    body: &[u8],
    open: bool,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(s, body)?;
    match api::change_state(state, &Admin(s.principal()), &id.to_string(), open).await {
        Ok(()) => Ok(back(id, if open { "reopened" } else { "closed" })),
        Err(e) => api_refused(state, s, uri, id, e).await,
    }
}

async fn api_refused(
    state: &AppState,
    s: &Session,
    uri: &Uri,
    id: Uuid,
    e: ApiError,
) -> PageResult {
    match e.status {
        StatusCode::NOT_FOUND => Err(Problem::NotFound),
        StatusCode::FORBIDDEN => Err(Problem::Forbidden),
        StatusCode::CONFLICT => {
            refused(
                state,
                s,
                uri,
                id,
                StaffError::Conflict("conflict"),
                "console.conv.conflict",
            )
            .await
        }
        status => Err(Problem::Internal(anyhow::anyhow!(
            "changing a conversation's state failed: {status}"
        ))),
    }
}

/// `POST /admin/conversations/{id}/close`.
pub async fn close(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    change(&state, &s, &uri, id, &body, false).await
}

/// `POST /admin/conversations/{id}/reopen`.
pub async fn reopen(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    change(&state, &s, &uri, id, &body, true).await
}

/// `POST /admin/conversations/{id}/block`: only with "I am sure" ticked.
pub async fn block(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    if form.get("sure") != "yes" {
        return conversation_page(
            &state,
            &s,
            &uri,
            id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(Refusal {
                key: "console.conv.block_unsure",
                detail: None,
            }),
        )
        .await;
    }
    store::block(state.staff(&s.principal()), id)
        .await
        .map_err(staff_problem)?;
    Ok(back(id, "blocked"))
}

/// `GET /admin/conversations/{id}/media/{message}`: a file the person
/// sent, fetched from Telegram by the server (audited); the bot token
/// never reaches the browser.
pub async fn media(
    State(state): State<AppState>,
    s: Session,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> Result<Response, Problem> {
    s.require(ROLES)?;
    Ok(
        match proxy::fetch(&state, &s.principal(), id, message).await {
            Ok(res) => res,
            Err(e) => e.into_response(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telegram_html_is_shown_as_text() {
        assert_eq!(
            plain("<b>Call 103</b> &amp; stay &lt;here&gt;"),
            "Call 103 & stay <here>"
        );
        assert_eq!(plain("<a href=\"https://x.kz\">site</a>"), "site");
        assert_eq!(
            notice(Some("replied")).as_deref(),
            Some("console.conv.done.replied")
        );
        assert_eq!(notice(Some("<script>")), None);
    }

    #[test]
    fn unknown_codes_are_shown_as_they_are() {
        assert_eq!(
            label(Lang::En, "console.conv.tag", "made_up_tag"),
            "made_up_tag"
        );
    }
}
