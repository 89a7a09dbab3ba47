//! The dashboard: what needs the organisation's attention today, in counts
//! only (no address, no appeal text). Each block shows only to the roles
//! that may open its section.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::Uri;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::account::DoneQuery;
use super::page::{Can, PageResult, notice, render};
use super::session::Session;
use super::words;
use crate::AppState;

#[derive(Serialize, Default)]
struct Supporters {
    /// channel -> language -> active supporters.
    by_channel: BTreeMap<String, BTreeMap<String, i64>>,
    total: i64,
    pending: i64,
}

#[derive(Serialize)]
struct Upcoming {
    id: Uuid,
    name: String,
    when: String,
    from_now: String,
}

#[derive(Serialize)]
struct Failure {
    id: Uuid,
    name: String,
    failed: i64,
}

#[derive(Serialize)]
struct LetterLine {
    id: Uuid,
    name: String,
    signatures: i64,
    unknown: i64,
}

pub async fn page(
    State(state): State<AppState>,
    s: Session,
    uri: Uri,
    Query(q): Query<DoneQuery>,
) -> PageResult {
    // Consultants have one section: their inbox is their home.
    if s.user.role == nasvyazi_shared::auth::Role::Consultant {
        return Ok(axum::response::Redirect::to("/admin/conversations").into_response());
    }
    let db = &state.infra.db;
    let can = Can::of(s.user.role);
    let lang = s.user.lang;
    let now = Utc::now();
    let mut supporters = Supporters::default();
    let mut upcoming = Vec::new();
    let mut failures = Vec::new();
    let mut other_failures: Vec<(String, String, i64)> = Vec::new();
    let mut letters = Vec::new();
    let (mut new_appeals, mut open_appeals) = (0i64, 0i64);
    if can.supporters {
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT channel, language, status, count(*) FROM contacts
             WHERE status IN ('active', 'pending') GROUP BY 1, 2, 3",
        )
        .fetch_all(db)
        .await?;
        for (channel, language, status, n) in rows {
            if status == "active" {
                *supporters
                    .by_channel
                    .entry(channel)
                    .or_default()
                    .entry(language)
                    .or_default() += n;
                supporters.total += n;
            } else {
                supporters.pending += n;
            }
        }
    }
    if can.campaigns {
        let rows: Vec<(Uuid, String, DateTime<Utc>, String)> = sqlx::query_as(
            "SELECT c.id, c.name, s.next_at, c.time_zone FROM schedule_state s
             JOIN campaigns c ON c.id = s.campaign_id
             WHERE c.status = 'approved' AND s.next_at IS NOT NULL
             ORDER BY s.next_at LIMIT 5",
        )
        .fetch_all(db)
        .await?;
        for (id, name, at, tz) in rows {
            let tz = tz.parse().unwrap_or(chrono_tz::Asia::Almaty);
            upcoming.push(Upcoming {
                id,
                name,
                when: words::datetime(lang, at, tz),
                from_now: words::from_now(lang, at, now),
            });
        }
        let rows: Vec<(Uuid, String, i64)> = sqlx::query_as(
            "SELECT c.id, c.name, count(*) FROM deliveries d
             JOIN occurrences o ON o.id = d.ref_id JOIN campaigns c ON c.id = o.campaign_id
             WHERE d.kind = 'campaign' AND d.status = 'failed' AND d.updated_at > now() - interval '30 days'
             GROUP BY 1, 2 ORDER BY 3 DESC LIMIT 10",
        )
        .fetch_all(db)
        .await?;
        failures = rows
            .into_iter()
            .map(|(id, name, failed)| Failure { id, name, failed })
            .collect();
        other_failures = sqlx::query_as(
            "SELECT kind, channel, count(*) FROM deliveries
             WHERE status = 'failed' AND kind NOT IN ('campaign', 'letter')
               AND updated_at > now() - interval '7 days'
             GROUP BY 1, 2 ORDER BY 3 DESC",
        )
        .fetch_all(db)
        .await?;
    }
    if can.letters {
        let rows: Vec<(Uuid, String, i64, i64)> = sqlx::query_as(
            "SELECT l.id, l.name,
                    (SELECT count(*) FROM letter_signatures s
                     WHERE s.letter_id = l.id AND s.confirmed_at IS NOT NULL AND s.withdrawn_at IS NULL),
                    (SELECT count(*) FROM letter_targets t JOIN deliveries d ON d.kind = 'letter' AND d.ref_id = t.id
                     WHERE t.letter_id = l.id AND d.status = 'unknown')
             FROM letters l WHERE l.status = 'approved' ORDER BY l.created_at DESC LIMIT 10",
        )
        .fetch_all(db)
        .await?;
        letters = rows
            .into_iter()
            .map(|(id, name, signatures, unknown)| LetterLine {
                id,
                name,
                signatures,
                unknown,
            })
            .collect();
    }
    if can.appeals {
        (new_appeals, open_appeals) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'new'),
                    count(*) FILTER (WHERE status IN ('new', 'triaged', 'forwarded'))
             FROM appeals",
        )
        .fetch_one(db)
        .await?;
    }
    Ok(render(
        &state,
        &s,
        &uri,
        "home",
        "console/dashboard.html",
        minijinja::context! {
            notice => notice(q.done.as_deref()),
            supporters, upcoming, failures, other_failures, letters, new_appeals, open_appeals,
        },
    ))
}
