//! The steps of answering a survey in the bot: starting one ([`begin`]),
//! what a button does ([`apply`]: an answer, a tick, "done", "skip",
//! "back", "stop"), what a typed text answers ([`typed_answer`]), skip
//! rules as on the web ([`model::skipped_by`]), and at the end the whole
//! answer checked by [`check_answers`] and stored with
//! [`responses::submit`]. A step names what to say next by an i18n key
//! (`survey_bot.*`) the front translates.
//!
//! The text-vs-answer rule: while a survey is in progress, a text message
//! answers its current question only when that question asks for typed
//! input (a number, a date, free text) and the text is such an answer.
//! Anything else (a cry for help while a choice waits for its buttons)
//! must never be swallowed as an answer: the front sends it the
//! consultation way.

use chrono::Utc;
use nasvyazi_crypto::Keyring;
use nasvyazi_platform::i18n::Lang;
use serde_json::{Map, Value, json};
use sqlx::{PgConnection, PgPool};

use super::session::{self, Session};
use crate::answers::{Refs, check_answers};
use crate::model::{self, Kind, Question};
use crate::{responses, store, tokens};

/// What a step leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Show the current question (again), with a note (an i18n key).
    Ask(Option<&'static str>),
    /// The survey was sent, refused as answered already, or stopped: this
    /// text (an i18n key). The session is gone.
    Finished(&'static str),
}

/// What a person did on the current question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An answer: an option's id, 1-5, a region or site code, or a typed
    /// value ([`typed_answer`]).
    Value(String),
    /// Ticks or unticks an option of a multiple-choice question.
    Toggle(String),
    /// The multiple-choice question is answered with what is ticked.
    Done,
    Skip,
    Back,
    /// Leaves the survey.
    Cancel,
}

/// Why a survey was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStarted {
    /// No such survey taking answers now, or an invitation that was not
    /// issued for it (whether an issued one was used is said only once
    /// the answers are sent).
    NotFound,
    /// The survey takes invited answers only, and none was given.
    InvitationRequired,
}

/// Whether `slug` could be a survey's.
fn slug_ok(slug: &str) -> bool {
    (2..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Starts the survey `slug` for the chat (replacing any session it had),
/// with the invitation `token` if the link carried one.
pub async fn begin(
    conn: &mut PgConnection,
    db: &PgPool,
    keys: &Keyring,
    chat: i64,
    slug: &str,
    token: Option<&str>,
    lang: Lang,
) -> anyhow::Result<Result<Session, NotStarted>> {
    let survey = if slug_ok(slug) {
        store::by_slug(db, slug)
            .await?
            .filter(|s| s.accepting(Utc::now()))
    } else {
        None
    };
    let Some(survey) = survey else {
        return Ok(Err(NotStarted::NotFound));
    };
    if let Some(tk) = token
        && !tokens::issued(keys, survey.id, tk)
    {
        return Ok(Err(NotStarted::NotFound));
    }
    if survey.invited_only && token.is_none() {
        return Ok(Err(NotStarted::InvitationRequired));
    }
    let s = session::create(conn, keys, chat, survey, lang, token).await?;
    Ok(Ok(s))
}

/// Whether an answer fires a skip rule's `equals`.
fn fires(v: Option<&Value>, equals: &str) -> bool {
    match v {
        Some(Value::String(s)) => s.trim() == equals,
        Some(Value::Number(n)) => n.to_string() == equals,
        Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(equals)),
        _ => false,
    }
}

/// Which questions the answers so far skip (as `check_answers` skips them).
fn skipped(questions: &[Question], answers: &Map<String, Value>) -> Vec<bool> {
    let rules = model::skipped_by(questions);
    let mut out = vec![false; questions.len()];
    for i in 0..questions.len() {
        out[i] = rules[i]
            .iter()
            .any(|(n, qid, equals)| !out[n - 1] && fires(answers.get(qid), equals));
    }
    out
}

/// The next question after `at` that is not skipped.
pub(crate) fn next_index(
    questions: &[Question],
    answers: &Map<String, Value>,
    at: usize,
) -> Option<usize> {
    let skip = skipped(questions, answers);
    (at + 1..questions.len()).find(|&i| !skip[i])
}

/// A date as typed: `DD.MM.YYYY` becomes `YYYY-MM-DD`.
pub(crate) fn normalise_date(s: &str) -> String {
    let s = s.trim();
    let parts: Vec<&str> = s.split(['.', '/']).collect();
    if let [d, m, y] = parts[..]
        && y.len() == 4
        && let (Ok(d), Ok(m), Ok(y)) = (d.parse::<u32>(), m.parse::<u32>(), y.parse::<i32>())
        && let Some(date) = chrono::NaiveDate::from_ymd_opt(y, m, d)
    {
        return date.format("%Y-%m-%d").to_string();
    }
    s.to_string()
}

/// What a typed text answers on a question of `kind`: free text, or
/// digits with a few separators where a number or a date is asked (a
/// wrong one is then refused as a survey answer). `None`: not a survey
/// answer (words where a number was asked, any text where buttons are).
pub fn typed_answer(kind: Kind, text: &str) -> Option<String> {
    let typed = text.trim();
    // Digits with a few separators: an attempt at a number or a date;
    // words never are.
    let looks_like = |separators: &str| {
        typed.chars().any(|c| c.is_ascii_digit())
            && typed
                .chars()
                .all(|c| c.is_ascii_digit() || separators.contains(c))
    };
    match kind {
        Kind::Text => Some(typed.to_string()),
        Kind::Number if looks_like("+-.,eE ") => Some(typed.replace(',', ".")),
        Kind::Date if looks_like("./- ") => Some(normalise_date(typed)),
        _ => None,
    }
}

/// Goes on after the current question was answered (or skipped): the next
/// question, or the whole answer checked and stored.
async fn advance(
    conn: &mut PgConnection,
    db: &PgPool,
    keys: &Keyring,
    s: &mut Session,
    refs: &Refs<'_>,
) -> anyhow::Result<Step> {
    s.progress.picked.clear();
    let questions = &s.survey().questions.0;
    let next = next_index(questions, &s.progress.answers, s.progress.at);
    if let Some(next) = next {
        let at = s.progress.at;
        s.progress.history.push(at);
        s.progress.at = next;
        session::save(conn, s).await?;
        return Ok(Step::Ask(None));
    }
    let answers = match check_answers(questions, &s.progress.answers, refs) {
        Ok(a) => a,
        Err(refusal) => {
            // Cannot happen with the checks on each step; go back there.
            let i = questions
                .iter()
                .position(|q| q.id == refusal.question)
                .unwrap_or(0);
            s.progress.at = i;
            session::save(conn, s).await?;
            return Ok(Step::Ask(Some("survey_bot.required")));
        }
    };
    let stored = responses::submit(
        db,
        keys,
        s.survey().id,
        s.lang().code(),
        s.token(),
        &answers,
    )
    .await?;
    session::end(conn, s).await?;
    Ok(Step::Finished(if stored {
        "survey_bot.thanks"
    } else {
        "survey_bot.used"
    }))
}

/// Takes `value` as the answer to the current question, if it is one.
async fn accept(
    conn: &mut PgConnection,
    db: &PgPool,
    keys: &Keyring,
    s: &mut Session,
    refs: &Refs<'_>,
    value: Value,
) -> anyhow::Result<Step> {
    let q = s.question();
    let mut one = Map::new();
    one.insert(q.id.clone(), value.clone());
    if check_answers(std::slice::from_ref(q), &one, refs).is_err() {
        return Ok(Step::Ask(Some("survey_bot.invalid")));
    }
    let id = q.id.clone();
    s.progress.answers.insert(id, value);
    advance(conn, db, keys, s, refs).await
}

/// Does `action` on the current question; `None` when it means nothing
/// there (an option the question does not have): ignored.
pub async fn apply(
    conn: &mut PgConnection,
    db: &PgPool,
    keys: &Keyring,
    s: &mut Session,
    refs: &Refs<'_>,
    action: Action,
) -> anyhow::Result<Option<Step>> {
    let q = s.question().clone();
    let step = match action {
        Action::Value(v) => accept(conn, db, keys, s, refs, json!(v)).await?,
        Action::Toggle(id) => {
            if q.kind != Kind::Multiple || !q.options.iter().any(|o| o.id == id) {
                return Ok(None);
            }
            let picked = &mut s.progress.picked;
            match picked.iter().position(|p| *p == id) {
                Some(i) => {
                    picked.remove(i);
                }
                None => picked.push(id),
            }
            session::save(conn, s).await?;
            Step::Ask(None)
        }
        Action::Done if s.progress.picked.is_empty() && q.required => {
            Step::Ask(Some("survey_bot.required"))
        }
        Action::Done if s.progress.picked.is_empty() => {
            s.progress.answers.remove(&q.id);
            advance(conn, db, keys, s, refs).await?
        }
        Action::Done => {
            let picked = json!(s.progress.picked.clone());
            accept(conn, db, keys, s, refs, picked).await?
        }
        Action::Skip if q.required => Step::Ask(Some("survey_bot.required")),
        Action::Skip => {
            s.progress.answers.remove(&q.id);
            advance(conn, db, keys, s, refs).await?
        }
        Action::Back => {
            if let Some(prev) = s.progress.history.pop() {
                let id = s.survey().questions.0[prev].id.clone();
                let before = s.progress.answers.remove(&id);
                s.progress.picked = match before {
                    Some(Value::Array(a)) => a
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                s.progress.at = prev;
                session::save(conn, s).await?;
            }
            Step::Ask(None)
        }
        Action::Cancel => {
            session::end(conn, s).await?;
            Step::Finished("survey_bot.cancelled")
        }
    };
    Ok(Some(step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_typed_input_questions_take_a_text() {
        assert_eq!(
            typed_answer(Kind::Text, "  help me "),
            Some("help me".into())
        );
        assert_eq!(typed_answer(Kind::Number, "3,5"), Some("3.5".into()));
        assert_eq!(typed_answer(Kind::Number, "three"), None);
        assert_eq!(
            typed_answer(Kind::Date, "05.03.2019"),
            Some("2019-03-05".into())
        );
        assert_eq!(typed_answer(Kind::Single, "1"), None);
        assert_eq!(typed_answer(Kind::Scale, "5"), None);
    }
}
