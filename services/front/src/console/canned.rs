//! Canned answers in the console (organisers, consultants, admins): listed
//! per language, added, edited and deleted through
//! `consultations::store::canned_*`. Consultants send them from a
//! conversation's page.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::i18n::Lang;
use serde::Deserialize;
use uuid::Uuid;

use super::conversations::notice;
use super::page::staff_problem;
use super::page::{Can, Form, PageResult, Problem, done, render_status};
use super::session::Session;
use crate::AppState;
use crate::consultations::store::{self, StaffError};

const ROLES: &[Role] = &[Role::Consultant, Role::Organiser];

#[derive(Deserialize)]
pub struct CannedQuery {
    pub done: Option<String>,
}

/// The menu entry the page belongs to: the inbox for those who have it.
fn section(s: &Session) -> &'static str {
    if Can::of(s.user.role).consultations {
        "conversations"
    } else {
        "canned"
    }
}

/// `GET /admin/canned-answers`.
pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<CannedQuery>,
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
    error: Option<(String, Option<String>)>,
) -> PageResult {
    let all = store::canned_list(&state.infra.db, None).await?;
    let groups: Vec<_> = [Lang::Ru, Lang::Kk, Lang::En]
        .iter()
        .map(|l| {
            let answers: Vec<_> = all
                .iter()
                .filter(|a| a.language == l.code())
                .map(|a| {
                    minijinja::context! {
                        id => a.id, title => &a.title, body => &a.body, language => &a.language,
                    }
                })
                .collect();
            minijinja::context! { language => l.code(), answers }
        })
        .collect();
    let (error, error_detail) = match error {
        Some((k, d)) => (Some(k), d),
        None => (None, None),
    };
    Ok(render_status(
        state,
        s,
        uri,
        section(s),
        "console/canned.html",
        status,
        minijinja::context! { groups, notice, error, error_detail },
    ))
}

/// `POST /admin/canned-answers`: a new one, or (with `id`) a changed one.
pub async fn save(State(state): State<AppState>, s: Session, uri: Uri, body: Bytes) -> PageResult {
    s.require(ROLES)?;
    let form = Form::checked(&s, &body)?;
    let id = match form.get("id") {
        "" => None,
        v => Some(v.parse::<Uuid>().map_err(|_| Problem::NotFound)?),
    };
    let Some(lang) = Lang::parse(form.get("language")) else {
        return list_page(
            &state,
            &s,
            &uri,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(("console.conv.canned_invalid".into(), None)),
        )
        .await;
    };
    if let Some(id) = id {
        // Editing one that was deleted meanwhile must not create it again.
        let exists = store::canned_list(&state.infra.db, None)
            .await?
            .iter()
            .any(|a| a.id == id);
        if !exists {
            return Err(Problem::NotFound);
        }
    }
    match store::canned_save(
        &state.infra.db,
        &s.principal(),
        id,
        lang,
        form.raw("title"),
        form.raw("body"),
    )
    .await
    {
        Ok(_) => Ok(done("/admin/canned-answers", "canned_saved")),
        Err(StaffError::Invalid(detail)) => {
            list_page(
                &state,
                &s,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(("console.conv.canned_invalid".into(), Some(detail))),
            )
            .await
        }
        Err(e) => Err(staff_problem(e)),
    }
}

/// `POST /admin/canned-answers/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    s: Session,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> PageResult {
    s.require(ROLES)?;
    Form::checked(&s, &body)?;
    match store::canned_delete(&state.infra.db, &s.principal(), id).await {
        Ok(()) => Ok(done("/admin/canned-answers", "canned_deleted")),
        Err(e) => Err(staff_problem(e)),
    }
}
