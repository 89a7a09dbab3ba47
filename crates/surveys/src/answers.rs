//! The checks of an answer to a survey: every value against its
//! question's kind (an option, 1-5, a number, a date, a known region or
//! OST site, free text), required questions, and the skip rules (answers
//! to a skipped question are dropped, never stored). A refusal names the
//! question, never the value: it must never echo what a person typed.

use std::collections::HashMap;

use serde_json::Value;

use crate::model::{Kind, MAX_TEXT_ANSWER, Question};

/// A checked answer value.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One or more stored values (one row each).
    Values(Vec<String>),
    /// Free text, sealed before it is stored.
    Text(String),
}

/// Why an answer was refused (the question's id, never the value).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub question: String,
    pub reason: Reason,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reason {
    Required,
    Invalid,
    Unknown,
}

impl Refusal {
    pub fn message(&self) -> String {
        let why = match self.reason {
            Reason::Required => "an answer is required",
            Reason::Invalid => "not an accepted answer for this question",
            Reason::Unknown => "no such question in this survey",
        };
        format!("answers.{}: {why}", self.question)
    }
}

/// The references a region or site answer is checked against: the codes
/// of the regions (with the organisation's custom places) and of the active
/// OST sites, as the front loads them.
pub struct Refs<'a> {
    pub regions: &'a [String],
    pub sites: &'a [String],
}

/// Whether `v` is "no answer" (null, empty string, empty list).
fn blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.iter().all(blank),
        _ => false,
    }
}

fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn check_one(q: &Question, v: &Value, refs: &Refs) -> Option<Answer> {
    let one = |v: &Value| as_string(v).filter(|s| !s.is_empty());
    match q.kind {
        Kind::Single => {
            let s = one(v)?;
            q.options
                .iter()
                .any(|o| o.id == s)
                .then(|| Answer::Values(vec![s]))
        }
        Kind::Multiple => {
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().filter(|x| !blank(x)).collect(),
                other => vec![other],
            };
            let mut out: Vec<String> = Vec::new();
            for item in items {
                let s = one(item)?;
                if !q.options.iter().any(|o| o.id == s) {
                    return None;
                }
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            (!out.is_empty()).then_some(Answer::Values(out))
        }
        Kind::Scale => {
            let s = one(v)?;
            matches!(s.as_str(), "1" | "2" | "3" | "4" | "5").then(|| Answer::Values(vec![s]))
        }
        Kind::Number => {
            let s = one(v)?;
            let n: f64 = s.parse().ok()?;
            if !n.is_finite() || n.abs() > 1e12 {
                return None;
            }
            let canonical = if n.fract() == 0.0 {
                format!("{}", n as i64)
            } else {
                format!("{n}")
            };
            Some(Answer::Values(vec![canonical]))
        }
        Kind::Date => {
            let s = one(v)?;
            let d = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok()?;
            Some(Answer::Values(vec![d.format("%Y-%m-%d").to_string()]))
        }
        Kind::Region => {
            let s = one(v)?;
            refs.regions.contains(&s).then(|| Answer::Values(vec![s]))
        }
        Kind::Site => {
            let s = one(v)?;
            refs.sites.contains(&s).then(|| Answer::Values(vec![s]))
        }
        Kind::Text => {
            let Value::String(s) = v else { return None };
            let s = s.trim().replace('\0', "");
            (!s.is_empty() && s.chars().count() <= MAX_TEXT_ANSWER).then_some(Answer::Text(s))
        }
    }
}

/// Whether the answer `a` to a rule's question fires the rule.
fn fires(a: &Answer, equals: &str) -> bool {
    matches!(a, Answer::Values(v) if v.iter().any(|x| x == equals))
}

/// Checks `answers` (question id -> value or list) against `questions`:
/// unknown ids and invalid values are refused, required questions that
/// were not skipped must be answered, answers to skipped questions are
/// dropped. Returns the answers to store, in question order.
pub fn check_answers(
    questions: &[Question],
    answers: &serde_json::Map<String, Value>,
    refs: &Refs,
) -> Result<Vec<(String, Answer)>, Refusal> {
    let refuse = |q: &str, reason| Refusal {
        question: q.to_string(),
        reason,
    };
    if let Some(unknown) = answers
        .keys()
        .find(|k| !questions.iter().any(|q| &q.id == *k))
    {
        return Err(refuse(unknown, Reason::Unknown));
    }
    let position: HashMap<&str, usize> = questions
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    let mut skipped = vec![false; questions.len()];
    let mut out = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        if skipped[i] {
            continue;
        }
        let answer = match answers.get(&q.id).filter(|v| !blank(v)) {
            None if q.required => return Err(refuse(&q.id, Reason::Required)),
            None => None,
            Some(v) => Some(check_one(q, v, refs).ok_or_else(|| refuse(&q.id, Reason::Invalid))?),
        };
        let Some(answer) = answer else { continue };
        for rule in questions.iter().filter_map(|r| r.skip_if.as_ref()) {
            if rule.question == q.id && fires(&answer, &rule.equals) {
                let to = position
                    .get(rule.skip_to.as_str())
                    .copied()
                    .unwrap_or(questions.len());
                for s in skipped.iter_mut().take(to).skip(i + 1) {
                    *s = true;
                }
            }
        }
        out.push((q.id.clone(), answer));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SurveyInput, skipped_by, validate};
    use serde_json::json;

    fn survey() -> SurveyInput {
        serde_json::from_value(json!({
            "slug": "t1", "title": {"ru": "T"},
            "questions": [
                {"id": "q1", "kind": "single", "required": true, "text": {"ru": "A"},
                 "options": [{"id": "yes", "text": {"ru": "Да"}}, {"id": "no", "text": {"ru": "Нет"}}],
                 "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
                {"id": "q2", "kind": "scale", "required": true, "text": {"ru": "B"}},
                {"id": "q3", "kind": "text", "text": {"ru": "C"}},
                {"id": "q4", "kind": "number", "required": true, "text": {"ru": "D"}}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn skip_rules_drop_skipped_answers_and_their_requirement() {
        let s = survey();
        validate(&s).unwrap();
        let refs = Refs {
            regions: &[],
            sites: &[],
        };
        let a = json!({"q1": "no", "q2": "9", "q3": "x", "q4": 3});
        let got = check_answers(&s.questions, a.as_object().unwrap(), &refs).unwrap();
        assert_eq!(got.len(), 2, "q2 and q3 are skipped: {got:?}");
        let a = json!({"q1": "yes", "q4": "3"});
        let e = check_answers(&s.questions, a.as_object().unwrap(), &refs).unwrap_err();
        assert_eq!(e.question, "q2");
        assert_eq!(e.reason, Reason::Required);
        let a = json!({"q1": "maybe", "q4": "3"});
        let e = check_answers(&s.questions, a.as_object().unwrap(), &refs).unwrap_err();
        assert_eq!((e.question.as_str(), e.reason), ("q1", Reason::Invalid));
        assert_eq!(
            skipped_by(&s.questions)[1],
            vec![(1, "q1".into(), "no".into())]
        );
    }
}
