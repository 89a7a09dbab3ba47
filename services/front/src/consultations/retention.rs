//! What is left after retention: the erasure itself (a closed conversation
//! erased `consultations.retention_days` after it closed, counted first in
//! `consultation_stats`) is `nasvyazi_cases::consultations::retention`;
//! here is the statistics table staff read.
//!
//! The statistics hide small cells (under 5) and, with them, whatever
//! would let a hidden cell be recomputed from the totals
//! ([`nasvyazi_disclosure`]).

use std::collections::BTreeMap;

use axum::extract::State;
use nasvyazi_disclosure::{Relation, suppress};
use nasvyazi_shared::auth::Role;
use nasvyazi_shared::error::{ApiError, ApiJson, ErrorBody};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::Admin;

pub use nasvyazi_cases::consultations::retention::{erase_expired, run};

/// One cell: conversations of a month and topic (`null`: hidden, fewer
/// than 5 or revealing one that is).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsCell {
    /// `YYYY-MM`.
    pub month: String,
    pub tag: String,
    pub conversations: Option<i64>,
}

/// A month's totals.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsMonth {
    pub month: String,
    pub conversations: Option<i64>,
    /// Of those, answered (hidden under 5 as well).
    pub answered: Option<i64>,
    /// Mean minutes to the first answer (only over 5 or more answered).
    pub mean_first_response_minutes: Option<f64>,
}

/// Anonymous statistics of erased conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub cells: Vec<StatsCell>,
    pub months: Vec<StatsMonth>,
    /// Per tag over all months.
    pub tags: BTreeMap<String, Option<i64>>,
    pub total: Option<i64>,
}

/// Builds the table with complementary suppression.
pub fn table(rows: &[(String, String, i64, i64, i64)]) -> Stats {
    // (month, tag) -> n; month -> (n, answered, secs).
    let mut cells: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut months: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (month, tag, n, answered, secs) in rows {
        *cells.entry((month.clone(), tag.clone())).or_default() += n;
        let m = months.entry(month.clone()).or_default();
        m.0 += n;
        m.1 += answered;
        m.2 += secs;
    }
    let tags: Vec<String> = {
        let mut t: Vec<String> = cells.keys().map(|(_, t)| t.clone()).collect();
        t.sort();
        t.dedup();
        t
    };
    let month_names: Vec<String> = months.keys().cloned().collect();
    // Counts: cells (month-major, every tag), month totals, tag totals, grand.
    let mut counts = Vec::new();
    let cell_index = |mi: usize, ti: usize| mi * tags.len() + ti;
    for m in &month_names {
        for t in &tags {
            counts.push(*cells.get(&(m.clone(), t.clone())).unwrap_or(&0));
        }
    }
    let month_base = counts.len();
    for m in &month_names {
        counts.push(months[m].0);
    }
    let tag_base = counts.len();
    for t in &tags {
        counts.push(
            month_names
                .iter()
                .map(|m| *cells.get(&(m.clone(), t.clone())).unwrap_or(&0))
                .sum(),
        );
    }
    let grand = counts.len();
    counts.push(months.values().map(|m| m.0).sum());
    let mut relations = Vec::new();
    for mi in 0..month_names.len() {
        relations.push(Relation {
            total: month_base + mi,
            parts: (0..tags.len()).map(|ti| cell_index(mi, ti)).collect(),
        });
    }
    for ti in 0..tags.len() {
        relations.push(Relation {
            total: tag_base + ti,
            parts: (0..month_names.len())
                .map(|mi| cell_index(mi, ti))
                .collect(),
        });
    }
    relations.push(Relation {
        total: grand,
        parts: (month_base..tag_base).collect(),
    });
    relations.push(Relation {
        total: grand,
        parts: (tag_base..grand).collect(),
    });
    let hidden = suppress(&counts, &relations, 5);
    let shown = |i: usize| (!hidden[i]).then_some(counts[i]);
    let mut out_cells = Vec::new();
    for (mi, m) in month_names.iter().enumerate() {
        for (ti, t) in tags.iter().enumerate() {
            out_cells.push(StatsCell {
                month: m.clone(),
                tag: t.clone(),
                conversations: shown(cell_index(mi, ti)),
            });
        }
    }
    Stats {
        cells: out_cells,
        months: month_names
            .iter()
            .enumerate()
            .map(|(mi, m)| {
                let (_, answered, secs) = months[m];
                StatsMonth {
                    month: m.clone(),
                    conversations: shown(month_base + mi),
                    answered: (answered >= 5 && !hidden[month_base + mi]).then_some(answered),
                    mean_first_response_minutes: (answered >= 5)
                        .then(|| (secs as f64 / answered as f64 / 60.0 * 10.0).round() / 10.0),
                }
            })
            .collect(),
        tags: tags
            .iter()
            .enumerate()
            .map(|(ti, t)| (t.clone(), shown(tag_base + ti)))
            .collect(),
        total: shown(grand),
    }
}

/// Statistics of erased conversations (anonymous counts, small cells
/// hidden with their complements).
#[utoipa::path(get, path = "/api/v1/admin/conversations-stats", tag = "consultations",
    security(("bearer" = [])),
    responses((status = 200, body = Stats), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<ApiJson<Stats>, ApiError> {
    admin.require(&[Role::Consultant, Role::Organiser])?;
    let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
        "SELECT to_char(month, 'YYYY-MM'), tag, sum(conversations)::bigint, sum(responded)::bigint,
                sum(first_response_secs)::bigint
         FROM consultation_stats GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(&state.infra.db)
    .await?;
    Ok(ApiJson(table(&rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_cell_and_its_complement_are_hidden() {
        let rows = vec![
            ("2026-10".into(), "hiv".into(), 3, 3, 600),
            ("2026-10".into(), "overdose".into(), 20, 20, 6000),
            ("2026-11".into(), "hiv".into(), 8, 8, 900),
            ("2026-11".into(), "overdose".into(), 12, 10, 3000),
        ];
        let s = table(&rows);
        let cell = |m: &str, t: &str| {
            s.cells
                .iter()
                .find(|c| c.month == m && c.tag == t)
                .unwrap()
                .conversations
        };
        assert_eq!(cell("2026-10", "hiv"), None);
        // The month total and the other cell of the row would give it away
        // together: one of them is hidden as well, and the column too.
        let oct = s.months.iter().find(|m| m.month == "2026-10").unwrap();
        assert!(oct.conversations.is_none() || cell("2026-10", "overdose").is_none());
        assert!(s.tags["hiv"].is_none() || cell("2026-11", "hiv").is_none());
    }
}
