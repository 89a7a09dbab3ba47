//! Anonymised statistics for advocacy: counts of appeals by month, region,
//! site and category, live ones and erased ones (`appeal_counts`) alike,
//! with small-cell suppression: a count under [`SMALL_CELL`] is shown as
//! `<5`, in every cell, margin and total, and so are the complements
//! (`nasvyazi_disclosure`) that would let a hidden count be worked out from
//! a margin or the total. Nothing here reads a sealed column.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

pub use nasvyazi_disclosure::{Count, SMALL_CELL};

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

fn tabulate(rows: Vec<(NaiveDate, String, String, String, i64)>) -> Stats {
    use nasvyazi_disclosure::{Relation, suppress};
    // Every published count in one list: the cells, then each dimension's
    // margin lines, then the total; and what sums to what.
    let mut by: [BTreeMap<String, Vec<usize>>; 4] = Default::default();
    let mut counts: Vec<i64> = Vec::with_capacity(rows.len() * 2 + 1);
    let mut keys = Vec::with_capacity(rows.len());
    for (i, (month, region, site, category, n)) in rows.into_iter().enumerate() {
        let month = month.format("%Y-%m").to_string();
        for (m, k) in by.iter_mut().zip([&month, &region, &site, &category]) {
            m.entry(k.clone()).or_default().push(i);
        }
        counts.push(n);
        keys.push((month, region, site, category));
    }
    let cells = counts.len();
    let mut relations = Vec::new();
    let mut lines: [Vec<(String, usize)>; 4] = Default::default();
    for (d, map) in by.iter().enumerate() {
        for (key, parts) in map {
            let at = counts.len();
            counts.push(parts.iter().map(|&i| counts[i]).sum());
            relations.push(Relation {
                total: at,
                parts: parts.clone(),
            });
            lines[d].push((key.clone(), at));
        }
    }
    let total_at = counts.len();
    counts.push(counts[..cells].iter().sum());
    for line in &lines {
        relations.push(Relation {
            total: total_at,
            parts: line.iter().map(|(_, at)| *at).collect(),
        });
    }
    let hidden = suppress(&counts, &relations, SMALL_CELL);
    let count = |i: usize| Count::shown(counts[i], hidden[i]);
    let margin = |line: &[(String, usize)]| -> Vec<Margin> {
        line.iter()
            .map(|(key, at)| Margin {
                key: key.clone(),
                count: count(*at),
            })
            .collect()
    };
    let [by_month, by_region, by_site, by_category] = &lines;
    Stats {
        threshold: SMALL_CELL,
        total: count(total_at),
        by_month: margin(by_month),
        by_region: margin(by_region),
        by_site: margin(by_site),
        by_category: margin(by_category),
        cells: keys
            .into_iter()
            .enumerate()
            .map(|(i, (month, region, site, category))| Cell {
                month,
                region,
                site,
                category,
                count: count(i),
            })
            .collect(),
    }
}

/// The cross table as CSV (`month,region,site,category,count`).
pub fn to_csv(stats: &Stats) -> String {
    let mut out = String::from("month,region,site,category,count\n");
    for c in &stats.cells {
        // Codes are [a-z0-9_] and months digits: nothing to quote; still
        // neutralised like every CSV cell the system writes.
        let n = nasvyazi_platform::csv_cell::neutralise;
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            n(&c.month),
            n(&c.region),
            n(&c.site),
            n(&c.category),
            n(&c.count.text())
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
        // 7 is not small, but January (9) minus it would give the 2 away.
        assert_eq!(s.cells[0].count, Count::Suppressed("<5".into()));
        assert_eq!(s.cells[1].count, Count::Suppressed("<5".into()));
        let feb = s.by_month.iter().find(|m| m.key == "2026-02").unwrap();
        assert_eq!(feb.count, Count::Suppressed("<5".into()));
        let csv = to_csv(&s);
        assert!(csv.starts_with("month,region,site,category,count\n"));
        assert!(csv.contains("2026-01,pavlodar,p1,police,<5\n"), "{csv}");
        assert_eq!(
            serde_json::to_value(&s.total).unwrap(),
            serde_json::json!(10)
        );
        assert_eq!(
            serde_json::to_value(&s.cells[1].count).unwrap(),
            serde_json::json!("<5")
        );
    }

    /// The sum of the exact cells under a margin line, and how many are
    /// hidden: a line shown exactly with one hidden cell gives it away.
    fn exposed(s: &Stats) -> Vec<String> {
        let mut out = Vec::new();
        type Key = fn(&Cell) -> &String;
        let dims: [(&Vec<Margin>, Key); 4] = [
            (&s.by_month, |c| &c.month),
            (&s.by_region, |c| &c.region),
            (&s.by_site, |c| &c.site),
            (&s.by_category, |c| &c.category),
        ];
        for (lines, key) in dims {
            for line in lines {
                let hidden = s
                    .cells
                    .iter()
                    .filter(|c| key(c) == &line.key && matches!(c.count, Count::Suppressed(_)))
                    .count();
                if matches!(line.count, Count::Exact(_)) && hidden == 1 {
                    out.push(line.key.clone());
                }
            }
            let hidden = lines
                .iter()
                .filter(|l| matches!(l.count, Count::Suppressed(_)))
                .count();
            if matches!(s.total, Count::Exact(_)) && hidden == 1 {
                out.push("total".into());
            }
        }
        out
    }

    #[test]
    fn a_cell_of_three_cannot_be_worked_out_from_the_totals() {
        let d = |m| NaiveDate::from_ymd_opt(2026, m, 1).unwrap();
        let cell = |m, r: &str, c: &str, n| (d(m), r.to_string(), String::new(), c.to_string(), n);
        let s = tabulate(vec![
            cell(1, "almaty", "police", 12),
            cell(1, "almaty", "clinic", 3),
            cell(1, "pavlodar", "police", 20),
            cell(1, "pavlodar", "clinic", 9),
            cell(2, "almaty", "police", 14),
            cell(2, "almaty", "clinic", 8),
            cell(2, "pavlodar", "police", 11),
            cell(2, "pavlodar", "clinic", 30),
        ]);
        assert_eq!(s.cells[1].count, Count::Suppressed("<5".into()));
        assert!(
            exposed(&s).is_empty(),
            "recomputable from {:?}",
            exposed(&s)
        );
        // Before complementary suppression January (44) minus its three
        // other cells gave the 3 away: now a complement hides with it.
        let hidden = s
            .cells
            .iter()
            .filter(|c| matches!(c.count, Count::Suppressed(_)))
            .count();
        assert!(hidden >= 2);
        assert_eq!(s.total, Count::Exact(107));
    }
}
