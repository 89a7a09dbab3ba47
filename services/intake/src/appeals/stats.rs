//! Anonymised statistics for advocacy: counts of appeals by month, region,
//! site and category, live ones and erased ones (`appeal_counts`) alike,
//! with small-cell suppression: a count under [`SMALL_CELL`] is shown as
//! `<5`, in every cell, margin and total. Nothing here reads a sealed
//! column.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

/// Counts below this are never shown exactly.
pub const SMALL_CELL: i64 = 5;

/// A count as published: exact, or `"<5"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Count {
    Exact(i64),
    /// Always `"<5"`.
    Suppressed(String),
}

impl Count {
    pub fn of(n: i64) -> Count {
        if n < SMALL_CELL {
            Count::Suppressed(format!("<{SMALL_CELL}"))
        } else {
            Count::Exact(n)
        }
    }

    fn csv(&self) -> String {
        match self {
            Count::Exact(n) => n.to_string(),
            Count::Suppressed(s) => s.clone(),
        }
    }
}

/// One cell of the cross table.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cell {
    /// `YYYY-MM`.
    pub month: String,
    pub region: String,
    /// The site's code; empty when the appeal named none.
    pub site: String,
    pub category: String,
    pub count: Count,
}

/// One line of a margin (counts by one dimension).
#[derive(Debug, Serialize, ToSchema)]
pub struct Margin {
    pub key: String,
    pub count: Count,
}

/// The statistics document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Counts under this are shown as `<5`.
    pub threshold: i64,
    pub total: Count,
    pub by_month: Vec<Margin>,
    pub by_region: Vec<Margin>,
    pub by_site: Vec<Margin>,
    pub by_category: Vec<Margin>,
    pub cells: Vec<Cell>,
}

/// Which appeals to count; every filter optional.
#[derive(Debug, Default, Clone)]
pub struct StatsFilter {
    /// First month counted (the day is ignored).
    pub from: Option<NaiveDate>,
    /// Last month counted (the day is ignored).
    pub to: Option<NaiveDate>,
    pub region: Option<String>,
    pub category: Option<String>,
}

/// Counts per (month, region, site, category); months in `time_zone`.
pub async fn compute(
    conn: &mut PgConnection,
    time_zone: &str,
    f: &StatsFilter,
) -> sqlx::Result<Stats> {
    let rows: Vec<(NaiveDate, String, String, String, i64)> = sqlx::query_as(
        "WITH counted AS (
             SELECT date_trunc('month', created_at AT TIME ZONE $1)::date AS month, region,
                    coalesce(site, '') AS site, category, 1::bigint AS n
             FROM appeals
             UNION ALL
             SELECT month, region, site, category, n::bigint FROM appeal_counts)
         SELECT month, region, site, category, sum(n)::bigint FROM counted
         WHERE ($2::date IS NULL OR month >= date_trunc('month', $2::date)::date)
           AND ($3::date IS NULL OR month <= date_trunc('month', $3::date)::date)
           AND ($4::text IS NULL OR region = $4) AND ($5::text IS NULL OR category = $5)
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .bind(time_zone)
    .bind(f.from)
    .bind(f.to)
    .bind(&f.region)
    .bind(&f.category)
    .fetch_all(conn)
    .await?;
    Ok(tabulate(rows))
}

fn margin(map: BTreeMap<String, i64>) -> Vec<Margin> {
    map.into_iter()
        .map(|(key, n)| Margin {
            key,
            count: Count::of(n),
        })
        .collect()
}

fn tabulate(rows: Vec<(NaiveDate, String, String, String, i64)>) -> Stats {
    let mut by: [BTreeMap<String, i64>; 4] = Default::default();
    let mut total = 0;
    let mut cells = Vec::with_capacity(rows.len());
    for (month, region, site, category, n) in rows {
        let month = month.format("%Y-%m").to_string();
        total += n;
        for (m, k) in by.iter_mut().zip([&month, &region, &site, &category]) {
            *m.entry(k.clone()).or_default() += n;
        }
        cells.push(Cell {
            month,
            region,
            site,
            category,
            count: Count::of(n),
        });
    }
    let [by_month, by_region, by_site, by_category] = by;
    Stats {
        threshold: SMALL_CELL,
        total: Count::of(total),
        by_month: margin(by_month),
        by_region: margin(by_region),
        by_site: margin(by_site),
        by_category: margin(by_category),
        cells,
    }
}

/// The cross table as CSV (`month,region,site,category,count`).
pub fn to_csv(stats: &Stats) -> String {
    let mut out = String::from("month,region,site,category,count\n");
    for c in &stats.cells {
        // Codes are [a-z0-9_] and months digits: nothing to quote.
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            c.month,
            c.region,
            c.site,
            c.category,
            c.count.csv()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cells_are_suppressed_everywhere() {
        let d = |m| NaiveDate::from_ymd_opt(2026, m, 1).unwrap();
        let s = tabulate(vec![
            (d(1), "pavlodar".into(), "".into(), "police".into(), 7),
            (d(1), "pavlodar".into(), "p1".into(), "police".into(), 2),
            (d(2), "almaty".into(), "".into(), "other".into(), 1),
        ]);
        assert_eq!(s.total, Count::Exact(10));
        assert_eq!(s.cells[0].count, Count::Exact(7));
        assert_eq!(s.cells[1].count, Count::Suppressed("<5".into()));
        let feb = s.by_month.iter().find(|m| m.key == "2026-02").unwrap();
        assert_eq!(feb.count, Count::Suppressed("<5".into()));
        let csv = to_csv(&s);
        assert!(csv.starts_with("month,region,site,category,count\n"));
        assert!(csv.contains("2026-01,pavlodar,p1,police,<5\n"), "{csv}");
        assert_eq!(
            serde_json::to_value(&s.cells[0].count).unwrap(),
            serde_json::json!(7)
        );
        assert_eq!(
            serde_json::to_value(&s.cells[1].count).unwrap(),
            serde_json::json!("<5")
        );
    }
}
