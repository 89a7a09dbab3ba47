//! Survey invitations in campaign messages (issue 17): a campaign that
//! invites to a survey gives each recipient their own link (`{{ survey_url
//! }}`), with a token derived from the survey and the contact
//! (`nasvyazi_surveys::tokens`) that nothing stores. A reminder
//! (`survey_reminder`) goes to every invitee exactly like the invitation:
//! it must never look up whether a token was used, and never leave a trace
//! (a skipped delivery, a missing row) that differs between those who
//! answered and those who did not.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use nasvyazi_surveys::tokens::{self, CampaignSurvey};
use uuid::Uuid;

use super::ComposeCtx;
use super::NotReady;

/// The recipient's invitation link: the bot's deep link for a Telegram
/// chat (when the bot's username is known), else the web page.
pub async fn link(
    cx: &ComposeCtx,
    survey: &CampaignSurvey,
    contact_id: Uuid,
    telegram: bool,
) -> Result<String, NotReady> {
    // A reminder is sent like the invitation, to everyone: skipping those
    // who answered would record, in the ledger, who answered.
    let token = tokens::issue(&cx.keys, survey.survey_id, contact_id);
    if telegram
        && let Some(bot) = bot_username(cx).await
        && let Some(url) = tokens::bot_url(&bot, &survey.slug, &token)
    {
        return Ok(url);
    }
    Ok(tokens::web_url(
        cx.config().public_base(),
        &survey.slug,
        &token,
    ))
}

/// The survey's page without an invitation (test sends: an organiser's
/// own answer would count like anyone's).
pub fn plain_link(cx: &ComposeCtx, survey: &CampaignSurvey) -> String {
    format!("{}/surveys/{}", cx.config().public_base(), survey.slug)
}

/// The bot's username (`getMe`), asked once per bot and API address.
async fn bot_username(cx: &ComposeCtx) -> Option<String> {
    static KNOWN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let config = &cx.config().telegram;
    let api = nasvyazi_shared::telegram::api::BotApi::from_config(config).ok()??;
    let key = format!("{}#{}", config.api_base, api.bot_id());
    let known = KNOWN.get_or_init(Mutex::default);
    if let Some(name) = known.lock().expect("usernames lock").get(&key) {
        return Some(name.clone());
    }
    let me = api
        .call_with_timeout("getMe", &serde_json::json!({}), Duration::from_secs(3))
        .await
        .ok()?;
    let name = me["username"].as_str()?.to_string();
    known
        .lock()
        .expect("usernames lock")
        .insert(key, name.clone());
    Some(name)
}
