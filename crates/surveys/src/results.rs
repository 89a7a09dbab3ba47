//! A survey's results: counts per question and, with `by`, a cross table
//! of every other question against one dimension (a question or the
//! language), with small-cell suppression (`nasvyazi_disclosure`): every
//! count under 5 is `"<5"`, and so is every complement that would let it
//! be worked out from a row total, a column total or the grand total.
//! Anyone may answer an open survey, so its shown counts are also rounded
//! to a multiple of 5 ([`Disclosure::Open`]): answers an outsider added and
//! knows cannot be subtracted to reveal a cell below 5. A survey that
//! takes invited answers only shows exact counts. Free text is never
//! counted here, and no count under 5 must ever be shown or be left
//! recomputable from the totals beside it.

use std::collections::{BTreeSet, HashMap};

use nasvyazi_disclosure::{Count, Relation, SMALL_CELL, suppress};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::model::{Kind, Question};

/// The cross-tab dimension besides the questions.
pub const LANGUAGE: &str = "language";

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SurveyQuestionCounts)]
pub struct QuestionCounts {
    pub id: String,
    pub kind: String,
    /// Respondents who answered it.
    #[schema(value_type = Object)]
    pub answered: Count,
    /// The categories in order (option ids, 1-5, or the values seen).
    pub options: Vec<String>,
    /// Category -> count (or `"<5"`).
    #[schema(value_type = Object)]
    pub counts: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SurveyCrossTab)]
pub struct CrossTab {
    pub question: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// row -> column -> count (or `"<5"`).
    #[schema(value_type = Object)]
    pub cells: Map<String, Value>,
    #[schema(value_type = Object)]
    pub row_totals: Map<String, Value>,
    #[schema(value_type = Object)]
    pub column_totals: Map<String, Value>,
    #[schema(value_type = Object)]
    pub total: Count,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SurveyResults)]
pub struct Results {
    pub survey_id: Uuid,
    #[schema(value_type = Object)]
    pub responses: Count,
    /// Counts under this are shown as `"<5"`.
    pub threshold: i64,
    /// The shown counts are rounded to a multiple of this (open surveys:
    /// 5, so that padding cannot reveal a small cell); 1 for a survey that
    /// takes invited answers only.
    pub rounded_to: i64,
    pub questions: Vec<QuestionCounts>,
    /// The cross-tab dimension: a question id or `language`.
    pub by: Option<String>,
    pub crosstabs: Vec<CrossTab>,
}

/// A dimension's categories: the definition's (options, 1-5, languages)
/// or, for open kinds, the values seen (sorted).
fn categories(q: Option<&Question>, seen: &BTreeSet<&str>) -> Vec<String> {
    match q.map(|q| q.kind) {
        None => ["ru", "kk", "en"].map(String::from).to_vec(),
        Some(Kind::Single | Kind::Multiple) => q
            .map(|q| q.options.iter().map(|o| o.id.clone()).collect())
            .unwrap_or_default(),
        Some(Kind::Scale) => (1..=5).map(|n| n.to_string()).collect(),
        Some(_) => seen.iter().map(|s| s.to_string()).collect(),
    }
}

/// Open surveys' published counts are rounded to a multiple of this (on
/// top of the `<5` suppression), so that answers added by an outsider who
/// knows them cannot be subtracted to reveal a small cell.
pub const ROUNDING: i64 = 5;

/// How counts are disclosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// Invited answers only: exact counts, small cells suppressed.
    Invited,
    /// Anyone may answer (and pad): counts rounded to [`ROUNDING`] as well.
    Open,
}

impl Disclosure {
    pub fn of(invited_only: bool) -> Disclosure {
        if invited_only {
            Disclosure::Invited
        } else {
            Disclosure::Open
        }
    }

    fn count(self, n: i64, hidden: bool) -> Count {
        match self {
            Disclosure::Open if !hidden => {
                Count::shown((n + ROUNDING / 2) / ROUNDING * ROUNDING, false)
            }
            _ => Count::shown(n, hidden),
        }
    }
}

fn json(c: &Count) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

/// Builds the results from every stored value (`responses::values`). `by` has
/// been checked (an existing non-text question, or `language`).
pub fn compute(
    survey: Uuid,
    questions: &[Question],
    values: &[(Uuid, String, String)],
    by: Option<&str>,
    disclosure: Disclosure,
) -> Results {
    let count = |n: i64, hidden: bool| disclosure.count(n, hidden);
    // question -> response -> values
    let mut per: HashMap<&str, HashMap<Uuid, Vec<&str>>> = HashMap::new();
    for (response, question, value) in values {
        per.entry(question.as_str())
            .or_default()
            .entry(*response)
            .or_default()
            .push(value.as_str());
    }
    let empty = HashMap::new();
    let of = |q: &str| per.get(q).unwrap_or(&empty);
    let seen =
        |q: &str| -> BTreeSet<&str> { of(q).values().flat_map(|v| v.iter().copied()).collect() };
    let responses = of(LANGUAGE).len() as i64;
    let counted: Vec<&Question> = questions.iter().filter(|q| q.kind != Kind::Text).collect();

    let mut out_questions = Vec::new();
    for q in &counted {
        let cats = categories(Some(q), &seen(&q.id));
        let answers = of(&q.id);
        let mut counts: Vec<i64> = cats
            .iter()
            .map(|c| answers.values().filter(|v| v.contains(&c.as_str())).count() as i64)
            .collect();
        let answered = answers.len() as i64;
        counts.push(answered);
        let relations = if q.kind == Kind::Multiple {
            Vec::new()
        } else {
            vec![Relation {
                total: cats.len(),
                parts: (0..cats.len()).collect(),
            }]
        };
        let hidden = suppress(&counts, &relations, SMALL_CELL);
        let mut map = Map::new();
        for (i, c) in cats.iter().enumerate() {
            map.insert(c.clone(), json(&count(counts[i], hidden[i])));
        }
        out_questions.push(QuestionCounts {
            id: q.id.clone(),
            kind: q.kind.as_str().into(),
            answered: count(answered, hidden[cats.len()]),
            options: cats,
            counts: map,
        });
    }

    let mut crosstabs = Vec::new();
    if let Some(by) = by {
        let by_q = questions.iter().find(|q| q.id == by);
        let cols = categories(by_q, &seen(by));
        let by_values = of(by);
        for q in counted.iter().filter(|q| q.id != by) {
            let rows = categories(Some(q), &seen(&q.id));
            let (r, c) = (rows.len(), cols.len());
            let mut counts = vec![0i64; r * c + r + c + 1];
            for (response, qv) in of(&q.id) {
                let Some(bv) = by_values.get(response) else {
                    continue;
                };
                for (i, row) in rows.iter().enumerate() {
                    if !qv.contains(&row.as_str()) {
                        continue;
                    }
                    for (j, col) in cols.iter().enumerate() {
                        if bv.contains(&col.as_str()) {
                            counts[i * c + j] += 1;
                        }
                    }
                }
            }
            // Totals are sums of the cells, so every relation holds.
            let (row_at, col_at, grand) = (r * c, r * c + r, r * c + r + c);
            let mut relations = Vec::new();
            for i in 0..r {
                counts[row_at + i] = (0..c).map(|j| counts[i * c + j]).sum();
                relations.push(Relation {
                    total: row_at + i,
                    parts: (0..c).map(|j| i * c + j).collect(),
                });
            }
            for j in 0..c {
                counts[col_at + j] = (0..r).map(|i| counts[i * c + j]).sum();
                relations.push(Relation {
                    total: col_at + j,
                    parts: (0..r).map(|i| i * c + j).collect(),
                });
            }
            counts[grand] = (0..r).map(|i| counts[row_at + i]).sum();
            relations.push(Relation {
                total: grand,
                parts: (0..r).map(|i| row_at + i).collect(),
            });
            relations.push(Relation {
                total: grand,
                parts: (0..c).map(|j| col_at + j).collect(),
            });
            let hidden = suppress(&counts, &relations, SMALL_CELL);
            let shown = |k: usize| json(&count(counts[k], hidden[k]));
            let mut cells = Map::new();
            let mut row_totals = Map::new();
            for (i, row) in rows.iter().enumerate() {
                let mut line = Map::new();
                for (j, col) in cols.iter().enumerate() {
                    line.insert(col.clone(), shown(i * c + j));
                }
                cells.insert(row.clone(), Value::Object(line));
                row_totals.insert(row.clone(), shown(row_at + i));
            }
            let mut column_totals = Map::new();
            for (j, col) in cols.iter().enumerate() {
                column_totals.insert(col.clone(), shown(col_at + j));
            }
            crosstabs.push(CrossTab {
                question: q.id.clone(),
                rows,
                columns: cols.clone(),
                cells,
                row_totals,
                column_totals,
                total: count(counts[grand], hidden[grand]),
            });
        }
    }
    Results {
        survey_id: survey,
        responses: count(responses, responses > 0 && responses < SMALL_CELL),
        threshold: SMALL_CELL,
        rounded_to: if disclosure == Disclosure::Open {
            ROUNDING
        } else {
            1
        },
        questions: out_questions,
        by: by.map(String::from),
        crosstabs,
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

/// The results as CSV: `question,option,by,by_value,count`; totals are
/// `(answered)` / `(total)`. Every cell is neutralised against formulas.
pub fn csv(r: &Results) -> anyhow::Result<Vec<u8>> {
    use nasvyazi_platform::csv_cell::neutralise;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |fields: [&str; 5]| w.write_record(fields.map(|f| neutralise(f).into_owned()));
    row(["question", "option", "by", "by_value", "count"])?;
    for q in &r.questions {
        for o in &q.options {
            row([&q.id, o, "", "", &cell(&q.counts[o])])?;
        }
        row([&q.id, "(answered)", "", "", &cell(&json(&q.answered))])?;
    }
    let by = r.by.as_deref().unwrap_or("");
    for t in &r.crosstabs {
        for row_id in &t.rows {
            for col in &t.columns {
                row([&t.question, row_id, by, col, &cell(&t.cells[row_id][col])])?;
            }
            row([
                &t.question,
                row_id,
                by,
                "(total)",
                &cell(&t.row_totals[row_id]),
            ])?;
        }
        for col in &t.columns {
            row([
                &t.question,
                "(total)",
                by,
                col,
                &cell(&t.column_totals[col]),
            ])?;
        }
        row([
            &t.question,
            "(total)",
            by,
            "(total)",
            &cell(&json(&t.total)),
        ])?;
    }
    Ok(w.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn questions() -> Vec<Question> {
        serde_json::from_value(json!([
            {"id": "q1", "kind": "single", "text": {"ru": "A"},
             "options": [{"id": "yes", "text": {"ru": "Да"}}, {"id": "no", "text": {"ru": "Нет"}}]},
            {"id": "q2", "kind": "region", "text": {"ru": "B"}}
        ]))
        .unwrap()
    }

    /// yes/pavlodar 3, yes/almaty 10, no/pavlodar 8, no/almaty 12.
    fn values() -> Vec<(Uuid, String, String)> {
        let mut out = Vec::new();
        for (answer, region, n) in [
            ("yes", "pavlodar", 3),
            ("yes", "almaty", 10),
            ("no", "pavlodar", 8),
            ("no", "almaty", 12),
        ] {
            for _ in 0..n {
                let id = Uuid::new_v4();
                out.push((id, "q1".into(), answer.into()));
                out.push((id, "q2".into(), region.into()));
                out.push((id, LANGUAGE.into(), "ru".into()));
            }
        }
        out
    }

    fn hidden(v: &Value) -> bool {
        v == "<5"
    }

    /// A cell of 3 is hidden, and so is enough beside it that no hidden
    /// cell follows from a row, a column or the grand total.
    #[test]
    fn a_small_cell_and_its_complements_are_hidden() {
        let r = compute(
            Uuid::nil(),
            &questions(),
            &values(),
            Some("q2"),
            Disclosure::Invited,
        );
        let t = &r.crosstabs[0];
        assert_eq!(t.question, "q1");
        assert!(hidden(&t.cells["yes"]["pavlodar"]), "the cell of 3");
        let total = serde_json::to_value(&t.total).unwrap();
        for row in &t.rows {
            let members: Vec<&Value> = t
                .columns
                .iter()
                .map(|c| &t.cells[row][c])
                .chain([&t.row_totals[row]])
                .collect();
            let n = members.iter().filter(|v| hidden(v)).count();
            assert_ne!(n, 1, "row {row}: {members:?}");
        }
        for col in &t.columns {
            let members: Vec<&Value> = t
                .rows
                .iter()
                .map(|row| &t.cells[row][col])
                .chain([&t.column_totals[col]])
                .collect();
            let n = members.iter().filter(|v| hidden(v)).count();
            assert_ne!(n, 1, "column {col}: {members:?}");
        }
        for totals in [&t.row_totals, &t.column_totals] {
            let n = totals
                .values()
                .chain([&total])
                .filter(|v| hidden(v))
                .count();
            assert_ne!(n, 1, "grand total: {totals:?} {total}");
        }
        // Nothing more than needed: the 2 x 2 block, the margins shown.
        assert!(hidden(&t.cells["yes"]["almaty"]));
        assert!(hidden(&t.cells["no"]["pavlodar"]));
        assert!(hidden(&t.cells["no"]["almaty"]));
        assert_eq!(t.row_totals["yes"], 13);
        assert_eq!(total, 33);
        // The question's own counts are not small: shown.
        assert_eq!(r.questions[0].counts["yes"], 13);
        assert_eq!(r.questions[1].counts["pavlodar"], 11);
        let csv = String::from_utf8(csv(&r).unwrap()).unwrap();
        assert!(csv.contains("q1,yes,q2,pavlodar,<5"), "{csv}");
    }
}
