//! Surveys (issue 17): anonymous questionnaires that organisers build,
//! answered on the web, through the JSON API or in the bot, with results
//! that protect small groups.
//!
//! It owns, and is the only writer of, the tables `surveys` (definitions,
//! state, each survey's wrapped data key), `survey_responses` and
//! `survey_answers` (the answers, free text sealed), `survey_token_pending`
//! and `survey_token_uses` (used invitations, as keyed hashes only) and
//! `survey_bot_sessions` (a chat's survey in progress, sealed). It also
//! issues and checks the invitation tokens a campaign's links carry
//! ([`tokens`]; nothing is stored when one is issued).
//!
//! - [`model`]: a definition and its checks; [`answers`]: an answer's checks.
//! - [`store`]: definitions; [`responses`]: answers stored unlinkably.
//! - [`results`]: counts and cross tables, small cells suppressed
//!   (`nasvyazi_disclosure`); [`svg`]: bar charts; [`example`]: the
//!   built-in example survey.
//! - [`bot`]: the bot dialog's sessions and steps (the front renders them).
//!
//! What it must never do: link a stored response to a person, a chat, an
//! invitation or the moment it came; log an answer, a token or a chat id;
//! show a count under 5; import a service (the front, the notifier) or
//! another domain's internals. Changes staff make run in the caller's
//! transaction, so that the front writes its audit line in the same one.

pub mod answers;
pub mod bot;
pub mod example;
pub mod model;
pub mod responses;
pub mod results;
pub mod store;
pub mod svg;
pub mod tokens;
