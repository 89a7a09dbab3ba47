//! Survey invitation tokens (issue 17): the front checks them when an
//! answer comes, the notifier puts them in a campaign's links. A reminder
//! goes to every invitee: nothing, not even a skipped delivery, records who
//! already answered (issue 24). This module must never store a token or
//! tell from one which contact it was issued to.
//!
//! A token is deterministic per (survey, contact) and verifiable without a
//! table of who was invited:
//!
//! ```text
//! r     = HMAC(k_r, survey ‖ contact)[..12]
//! m     = HMAC(k_m, survey ‖ r)[..12]
//! token = base64url(r ‖ m)              (32 characters)
//! ```
//!
//! `k_r` and `k_m` are the blind-index key under distinct labels
//! ([`Keyring::blind_index`]). Front checks `m` (a forged or mistyped
//! token is refused) but cannot tell from a token which contact it was
//! issued to. Nothing is stored when a token is issued; when one is used,
//! only its survey-scoped keyed hash ([`token_mac`]) is kept, first in the
//! survey's pending batch (`survey_token_pending`), then in
//! `survey_token_uses`, written in a batch transaction of their own with
//! no link to the response rows ([`crate::responses::submit`]): it
//! says "this invitation was used", never which answers came with it.
//!
//! Anyone who holds the blind-index key and the contacts table can
//! recompute a contact's token and so learn *who* has answered, never
//! *what*.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::PgPool;
use uuid::Uuid;

use nasvyazi_crypto::Keyring;

const PART: usize = 12;
/// The length of a token (base64url of 24 bytes).
pub const TOKEN_LEN: usize = 32;

fn r_of(keys: &Keyring, survey: Uuid, contact: Uuid) -> Vec<u8> {
    let mut r = keys.blind_index("survey-invite:r:v1", &format!("{survey}:{contact}"));
    r.truncate(PART);
    r
}

fn mac_of(keys: &Keyring, survey: Uuid, r: &[u8]) -> Vec<u8> {
    let mut m = keys.blind_index(
        "survey-invite:mac:v1",
        &format!("{survey}:{}", hex::encode(r)),
    );
    m.truncate(PART);
    m
}

/// The invitation token of `contact` for `survey`.
pub fn issue(keys: &Keyring, survey: Uuid, contact: Uuid) -> String {
    let r = r_of(keys, survey, contact);
    let mut bytes = r.clone();
    bytes.extend_from_slice(&mac_of(keys, survey, &r));
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` was issued for `survey` (by [`issue`], for some contact).
pub fn verify(keys: &Keyring, survey: Uuid, token: &str) -> bool {
    if token.len() != TOKEN_LEN {
        return false;
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    if bytes.len() != 2 * PART {
        return false;
    }
    let (r, m) = bytes.split_at(PART);
    let expected = mac_of(keys, survey, r);
    // Constant time.
    expected
        .iter()
        .zip(m)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// Whether `token` looks like an invitation at all: URL-safe, 16 to 256
/// characters (what a page may carry on in a hidden field).
pub fn well_formed(token: &str) -> bool {
    (16..=256).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `token` is well formed and was issued for `survey`: what the
/// answering paths (web, JSON, bot) check before anything else.
pub fn issued(keys: &Keyring, survey: Uuid, token: &str) -> bool {
    well_formed(token) && verify(keys, survey, token)
}

/// The survey-scoped keyed hash of a token: what is kept when it is used.
pub fn token_mac(keys: &Keyring, survey: Uuid, token: &str) -> Vec<u8> {
    keys.blind_index("survey_token:v1", &format!("{survey}:{token}"))
}

/// Whether `token` has been used to answer `survey` (settled, or pending
/// in the survey's current batch). Only the answering path may ask, and
/// only after a submission: telling a link's holder, or a campaign,
/// whether it was used is what issue 24 forbids.
pub async fn used(db: &PgPool, keys: &Keyring, survey: Uuid, token: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM survey_token_uses WHERE survey_id = $1 AND token_mac = $2)
             OR EXISTS (SELECT 1 FROM survey_token_pending WHERE survey_id = $1 AND $2 = ANY (macs))",
    )
    .bind(survey)
    .bind(token_mac(keys, survey, token))
    .fetch_one(db)
    .await
}

/// The answering page with an invitation: `{public}/surveys/{slug}?t=...`.
pub fn web_url(public_base: &str, slug: &str, token: &str) -> String {
    format!(
        "{}/surveys/{slug}?t={token}",
        public_base.trim_end_matches('/')
    )
}

/// The bot's deep link: `https://t.me/{bot}?start=survey_{slug}_{token}`
/// (Telegram's `start` parameter: up to 64 of `A-Za-z0-9_-`).
pub fn bot_url(bot_username: &str, slug: &str, token: &str) -> Option<String> {
    let start = format!("survey_{slug}_{token}");
    (start.len() <= 64).then(|| {
        format!(
            "https://t.me/{}?start={start}",
            bot_username.trim_start_matches('@')
        )
    })
}

/// The survey a campaign invites to (`campaigns.survey_id`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CampaignSurvey {
    pub survey_id: Uuid,
    pub slug: String,
    /// A reminder: sent to every invitee like the invitation (whoever
    /// already answered is told so only if they answer again).
    pub reminder: bool,
}

impl CampaignSurvey {
    pub async fn load(db: &PgPool, campaign: Uuid) -> sqlx::Result<Option<CampaignSurvey>> {
        sqlx::query_as(
            "SELECT s.id AS survey_id, s.slug, c.survey_reminder AS reminder
               FROM campaigns c JOIN surveys s ON s.id = c.survey_id
              WHERE c.id = $1",
        )
        .bind(campaign)
        .fetch_optional(db)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_others_do_not() {
        let keys = Keyring::generate();
        let (s, c) = (Uuid::new_v4(), Uuid::new_v4());
        let t = issue(&keys, s, c);
        assert_eq!(t.len(), TOKEN_LEN);
        assert_eq!(t, issue(&keys, s, c), "deterministic");
        assert!(verify(&keys, s, &t));
        assert!(!verify(&keys, Uuid::new_v4(), &t), "survey-scoped");
        assert!(!verify(&Keyring::generate(), s, &t), "keyed");
        assert_ne!(t, issue(&keys, s, Uuid::new_v4()));
        // One character changed.
        let mut forged: Vec<char> = t.chars().collect();
        forged[20] = if forged[20] == 'A' { 'B' } else { 'A' };
        assert!(!verify(&keys, s, &forged.into_iter().collect::<String>()));
        assert!(!verify(&keys, s, "invitation_token_0123456789"));
        assert!(bot_url("forum_bot", "ost-access", &t).unwrap().len() < 100);
        assert!(bot_url("b", &"x".repeat(30), &t).is_none());
    }
}
