//! The domain half of answering a survey in the bot (issue 17): the
//! resumable sessions ([`session`]: one sealed row per chat) and the steps
//! of the dialog ([`steps`]: skip logic, what a typed text answers, the
//! whole answer checked and stored). The front's glue turns a step into
//! Telegram messages and buttons; nothing here knows a message, a button
//! or a chat's text. It must never store a chat id, or link a stored
//! response to the chat that gave it.

pub mod session;
pub mod steps;

pub use session::{KIND, Session, TTL_DAYS, chat_index, forget};
pub use steps::{Action, NotStarted, Step};

/// The deep-link prefix: `survey_<slug>[_<token>]` (what
/// [`crate::tokens::bot_url`] puts in Telegram's `start` parameter).
pub const DEEP_LINK: &str = "survey_";

/// Reads `survey_<slug>` or `survey_<slug>_<token>` (slugs have no `_`).
pub fn deep_link(code: &str) -> Option<(&str, Option<&str>)> {
    let rest = code.strip_prefix(DEEP_LINK)?;
    match rest.split_once('_') {
        Some((slug, token)) if !token.is_empty() => Some((slug, Some(token))),
        Some((slug, _)) => Some((slug, None)),
        None => Some((rest, None)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::deep_link;
    use super::steps::{next_index, normalise_date};
    use crate::model::Question;

    #[test]
    fn deep_links_dates_and_skips() {
        assert_eq!(deep_link("survey_ost-access"), Some(("ost-access", None)));
        assert_eq!(
            deep_link("survey_ost-access_AbC_def-123"),
            Some(("ost-access", Some("AbC_def-123")))
        );
        assert_eq!(deep_link("spring-2026"), None);
        assert_eq!(normalise_date("05.03.2019"), "2019-03-05");
        assert_eq!(normalise_date("2019-03-05"), "2019-03-05");
        assert_eq!(normalise_date("31.02.2019"), "31.02.2019");
        let qs: Vec<Question> = serde_json::from_value(json!([
            {"id": "q1", "kind": "single", "text": {"ru": "A"},
             "options": [{"id": "yes", "text": {"ru": "Да"}}, {"id": "no", "text": {"ru": "Нет"}}],
             "skip_if": {"question": "q1", "equals": "no", "skip_to": "q4"}},
            {"id": "q2", "kind": "scale", "text": {"ru": "B"}},
            {"id": "q3", "kind": "text", "text": {"ru": "C"}},
            {"id": "q4", "kind": "number", "text": {"ru": "D"}}
        ]))
        .unwrap();
        let mut answers = Map::new();
        answers.insert("q1".into(), json!("no"));
        assert_eq!(next_index(&qs, &answers, 0), Some(3));
        answers.insert("q1".into(), json!("yes"));
        assert_eq!(next_index(&qs, &answers, 0), Some(1));
        assert_eq!(next_index(&qs, &answers, 3), None);
    }
}
