//! A survey's definition (what the admin API takes and the `surveys` row
//! keeps) and its checks; answers to it are checked in [`crate::answers`].
//! It must never accept a definition whose skip rules point backwards or
//! nowhere.
//!
//! Skip logic: a rule `{"question": "q3", "equals": "no", "skip_to": "q6"}`
//! (on any question) skips every question after q3 and before q6 when q3
//! was answered `no` (for a multiple-choice question: when `no` is among
//! the chosen); `skip_to` may be `"end"`. Answers to a skipped question are
//! IGNORED (dropped, never stored), not refused: the web form has no
//! JavaScript and shows every question, so a person may well fill one in
//! before reading the rule; the JSON API behaves the same way.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Text per language: keys `ru`, `kk`, `en` (at least one).
pub type Texts = BTreeMap<String, String>;

const LANGS: [&str; 3] = ["ru", "kk", "en"];
pub const MAX_QUESTIONS: usize = 100;
pub const MAX_OPTIONS: usize = 50;
pub const MAX_TEXT_ANSWER: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = SurveyQuestionKind)]
pub enum Kind {
    /// One option.
    Single,
    /// Any number of options (at least one when answered).
    Multiple,
    /// 1 to 5.
    Scale,
    Number,
    /// `YYYY-MM-DD`.
    Date,
    /// A region code from `/api/v1/regions`.
    Region,
    /// An OST site code from `/api/v1/sites`.
    Site,
    /// Free text: sealed, read only through `.../texts`.
    Text,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Single => "single",
            Kind::Multiple => "multiple",
            Kind::Scale => "scale",
            Kind::Number => "number",
            Kind::Date => "date",
            Kind::Region => "region",
            Kind::Site => "site",
            Kind::Text => "text",
        }
    }

    pub(crate) fn has_options(self) -> bool {
        matches!(self, Kind::Single | Kind::Multiple)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SurveyOption)]
pub struct Choice {
    pub id: String,
    #[schema(value_type = Object)]
    pub text: Texts,
}

/// "If `question` is `equals`, skip to `skip_to`" (a question id or `end`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipIf {
    pub question: String,
    pub equals: String,
    pub skip_to: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = SurveyQuestion)]
pub struct Question {
    pub id: String,
    pub kind: Kind,
    #[serde(default)]
    pub required: bool,
    #[schema(value_type = Object)]
    pub text: Texts,
    /// single and multiple only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_if: Option<SkipIf>,
}

/// `POST /api/v1/admin/surveys`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyInput {
    pub slug: String,
    #[schema(value_type = Object)]
    pub title: Texts,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub intro: Texts,
    pub questions: Vec<Question>,
    pub opens_at: Option<chrono::DateTime<chrono::Utc>>,
    pub closes_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Take (and count) only answers that come with an invitation token:
    /// for surveys whose figures must resist padding by outsiders. An open
    /// survey's published counts are rounded to 5 instead.
    #[serde(default)]
    pub invited_only: bool,
}

fn texts_ok(field: &str, t: &Texts, max: usize, required: bool) -> Result<(), String> {
    if required && t.is_empty() {
        return Err(format!("{field}: a text in ru, kk or en is required"));
    }
    for (lang, s) in t {
        if !LANGS.contains(&lang.as_str()) {
            return Err(format!("{field}.{lang}: languages are ru, kk and en"));
        }
        if s.trim().is_empty() || s.chars().count() > max || s.contains('\0') {
            return Err(format!("{field}.{lang}: must be 1 to {max} characters"));
        }
    }
    Ok(())
}

fn id_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// Checks a definition; the error names the field (`questions[2].options`).
pub fn validate(input: &SurveyInput) -> Result<(), String> {
    let slug = &input.slug;
    let slug_ok = (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if !slug_ok {
        return Err("slug: 2 to 63 of a-z, 0-9 and -, not starting with -".into());
    }
    texts_ok("title", &input.title, 300, true)?;
    texts_ok("intro", &input.intro, 5000, false)?;
    if let (Some(o), Some(c)) = (input.opens_at, input.closes_at)
        && c <= o
    {
        return Err("closes_at: must be after opens_at".into());
    }
    let qs = &input.questions;
    if qs.is_empty() || qs.len() > MAX_QUESTIONS {
        return Err(format!("questions: 1 to {MAX_QUESTIONS} questions"));
    }
    let mut index = HashMap::new();
    for (i, q) in qs.iter().enumerate() {
        let f = format!("questions[{i}]");
        if !id_ok(&q.id) || q.id == "end" || q.id == "language" {
            return Err(format!(
                "{f}.id: 1 to 32 of a-z, 0-9, _ and - (not `end` or `language`)"
            ));
        }
        if index.insert(q.id.as_str(), i).is_some() {
            return Err(format!("{f}.id: `{}` is used twice", q.id));
        }
        texts_ok(&format!("{f}.text"), &q.text, 1000, true)?;
        if q.kind.has_options() {
            if q.options.len() < 2 || q.options.len() > MAX_OPTIONS {
                return Err(format!("{f}.options: 2 to {MAX_OPTIONS} options"));
            }
            let mut seen = HashSet::new();
            for (j, o) in q.options.iter().enumerate() {
                if !id_ok(&o.id) {
                    return Err(format!("{f}.options[{j}].id: 1 to 32 of a-z, 0-9, _ and -"));
                }
                if !seen.insert(o.id.as_str()) {
                    return Err(format!("{f}.options[{j}].id: `{}` is used twice", o.id));
                }
                texts_ok(&format!("{f}.options[{j}].text"), &o.text, 300, true)?;
            }
        } else if !q.options.is_empty() {
            return Err(format!(
                "{f}.options: only single and multiple questions have options"
            ));
        }
    }
    for (i, q) in qs.iter().enumerate() {
        let Some(rule) = &q.skip_if else { continue };
        let f = format!("questions[{i}].skip_if");
        let Some(&from) = index.get(rule.question.as_str()) else {
            return Err(format!("{f}.question: no question `{}`", rule.question));
        };
        let source = &qs[from];
        let equals_ok = match source.kind {
            Kind::Single | Kind::Multiple => source.options.iter().any(|o| o.id == rule.equals),
            Kind::Scale => matches!(rule.equals.as_str(), "1" | "2" | "3" | "4" | "5"),
            _ => {
                return Err(format!(
                    "{f}.question: skip rules follow single, multiple or scale questions"
                ));
            }
        };
        if !equals_ok {
            return Err(format!(
                "{f}.equals: `{}` is not an answer to `{}`",
                rule.equals, rule.question
            ));
        }
        if rule.skip_to != "end" {
            match index.get(rule.skip_to.as_str()) {
                Some(&to) if to > from + 1 => {}
                Some(_) => {
                    return Err(format!(
                        "{f}.skip_to: must come at least two questions after `{}`",
                        rule.question
                    ));
                }
                None => {
                    return Err(format!(
                        "{f}.skip_to: no question `{}` (or `end`)",
                        rule.skip_to
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The text in `lang`, else ru, en, kk.
pub fn text_in<'a>(t: &'a Texts, lang: &str) -> &'a str {
    [lang, "ru", "en", "kk"]
        .iter()
        .find_map(|l| t.get(*l))
        .map(String::as_str)
        .unwrap_or("")
}

/// For each question, the rules that would skip it: (the rule's question
/// number, 1-based, and the answer's id).
pub fn skipped_by(questions: &[Question]) -> Vec<Vec<(usize, String, String)>> {
    let position: HashMap<&str, usize> = questions
        .iter()
        .enumerate()
        .map(|(i, q)| (q.id.as_str(), i))
        .collect();
    let mut out = vec![Vec::new(); questions.len()];
    for rule in questions.iter().filter_map(|r| r.skip_if.as_ref()) {
        let Some(&from) = position.get(rule.question.as_str()) else {
            continue;
        };
        let to = position
            .get(rule.skip_to.as_str())
            .copied()
            .unwrap_or(questions.len());
        for hints in out.iter_mut().take(to).skip(from + 1) {
            hints.push((from + 1, rule.question.clone(), rule.equals.clone()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn definitions_name_the_wrong_field() {
        let mut s = survey();
        s.questions[0].skip_if.as_mut().unwrap().skip_to = "q2".into();
        assert!(
            validate(&s)
                .unwrap_err()
                .starts_with("questions[0].skip_if.skip_to")
        );
        let mut s = survey();
        s.questions[1].options = s.questions[0].options.clone();
        assert!(
            validate(&s)
                .unwrap_err()
                .starts_with("questions[1].options")
        );
        let mut s = survey();
        s.title.insert("de".into(), "x".into());
        assert_eq!(
            validate(&s).unwrap_err(),
            "title.de: languages are ru, kk and en"
        );
    }
}
