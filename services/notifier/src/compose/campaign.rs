//! Campaign messages: the occurrence's campaign, rendered per recipient's
//! language (fallback kk -> ru -> en) for email (with the unsubscribe
//! headers) or Telegram (HTML, every substituted value escaped), or as the
//! one post to the configured Telegram channel or a registered one (a
//! native anonymous poll when the template has `telegram_poll`). Also
//! test sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::channels::{EmailMessage, Outgoing, TelegramMessage, TelegramPoll};
use nasvyazi_campaigns::{self as campaigns, Campaign, Context};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use uuid::Uuid;

use super::ComposeCtx;
use super::{NotReady, Prepared, subscriber};
use crate::deliveries::Claimed;
use crate::render::{SubscriberLinks, message_id};

/// A campaign and its calendar, as one occurrence's deliveries need them.
pub struct Loaded {
    pub campaign: Campaign,
    pub days: Vec<nasvyazi_campaigns::schedule::AwarenessDay>,
    /// The email rendered once per language (`None`: render per recipient).
    pub shared: Mutex<HashMap<Lang, Option<Arc<campaigns::SharedEmail>>>>,
    /// The Telegram text rendered once per language (it has no
    /// per-recipient values).
    pub telegram: Mutex<HashMap<Lang, String>>,
    /// The email's inline images, loaded once (see [`load_email_images`]).
    pub email_images: tokio::sync::OnceCell<super::inline_images::Images>,
    /// The Telegram posts' media, loaded once (see [`telegram_media`]).
    pub telegram_media: tokio::sync::OnceCell<super::telegram_media::Media>,
    /// The survey the campaign invites to, if any (`super::survey_invite`).
    pub survey: Option<nasvyazi_surveys::tokens::CampaignSurvey>,
}

impl Loaded {
    pub fn new(campaign: Campaign, days: Vec<nasvyazi_campaigns::schedule::AwarenessDay>) -> Self {
        Loaded {
            campaign,
            days,
            shared: Mutex::default(),
            telegram: Mutex::default(),
            email_images: tokio::sync::OnceCell::new(),
            telegram_media: tokio::sync::OnceCell::new(),
            survey: None,
        }
    }
}

/// The media of the Telegram message in `lang` (loaded once per cached
/// campaign: file ids this bot has, bytes of the rest).
async fn telegram_media(
    cx: &ComposeCtx,
    loaded: &Loaded,
    lang: Lang,
) -> Result<Vec<crate::channels::TelegramMedia>, NotReady> {
    let templates = &loaded.campaign.templates;
    if campaigns::pick_telegram_media(templates, lang).is_empty() {
        return Ok(Vec::new());
    }
    let bot_id = cx
        .config()
        .telegram
        .token
        .as_ref()
        .map(|t| {
            use secrecy::ExposeSecret;
            nasvyazi_shared::telegram::bot_id(t.expose_secret()).to_string()
        })
        .unwrap_or_default();
    let media = loaded
        .telegram_media
        .get_or_try_init(|| super::telegram_media::load(&cx.infra.db, &bot_id, templates))
        .await?;
    super::telegram_media::for_lang(media, templates, lang).map_err(NotReady::Fail)
}

/// Loads the email's inline images into `loaded` once (before [`email`]).
async fn load_email_images(cx: &ComposeCtx, loaded: &Loaded) -> Result<(), NotReady> {
    loaded
        .email_images
        .get_or_try_init(|| super::inline_images::load(&cx.infra.db, &loaded.campaign.templates))
        .await?;
    Ok(())
}

/// The occurrence's Telegram text in `lang`, rendered once.
fn shared_telegram(cx: &ComposeCtx, loaded: &Loaded, lang: Lang) -> Result<String, NotReady> {
    if let Some(html) = loaded.telegram.lock().expect("telegram lock").get(&lang) {
        return Ok(html.clone());
    }
    let html = campaigns::render_telegram(
        &loaded.campaign.templates,
        lang,
        &context(cx, loaded, lang, None),
    )
    .map_err(render_failed)?;
    loaded
        .telegram
        .lock()
        .expect("telegram lock")
        .insert(lang, html.clone());
    Ok(html)
}

/// The occurrence's email in `lang`, rendered once and shared by every
/// recipient of that language while the campaign stays cached.
fn shared_email(
    cx: &ComposeCtx,
    loaded: &Loaded,
    lang: Lang,
) -> Result<Option<Arc<campaigns::SharedEmail>>, NotReady> {
    if let Some(s) = loaded.shared.lock().expect("shared lock").get(&lang) {
        return Ok(s.clone());
    }
    let ctx = context(cx, loaded, lang, None);
    let shared = campaigns::SharedEmail::render(&loaded.campaign.templates, lang, &ctx)
        .map_err(render_failed)?
        .map(Arc::new);
    loaded
        .shared
        .lock()
        .expect("shared lock")
        .insert(lang, shared.clone());
    Ok(shared)
}

/// Campaigns by occurrence, kept a few seconds (so a cancel or an edit
/// reaches the sender within that time, without one query per message).
#[derive(Default)]
pub struct Cache(Mutex<HashMap<Uuid, (Instant, Arc<Loaded>)>>);

const TTL: Duration = Duration::from_secs(5);

impl Cache {
    async fn get(
        &self,
        cx: &ComposeCtx,
        occurrence_id: Uuid,
    ) -> Result<Option<Arc<Loaded>>, NotReady> {
        if let Some((at, loaded)) = self.0.lock().expect("cache lock").get(&occurrence_id)
            && at.elapsed() < TTL
        {
            return Ok(Some(loaded.clone()));
        }
        let db = &cx.infra.db;
        let campaign_id: Option<Uuid> =
            sqlx::query_scalar("SELECT campaign_id FROM occurrences WHERE id = $1")
                .bind(occurrence_id)
                .fetch_optional(db)
                .await?;
        let Some(campaign_id) = campaign_id else {
            return Ok(None);
        };
        let Some(campaign) = Campaign::load(db, campaign_id).await? else {
            return Ok(None);
        };
        // A series' occurrence: its post's templates and channels.
        let campaign = nasvyazi_campaigns::series::for_occurrence(db, &campaign, occurrence_id)
            .await?
            .into_owned();
        let mut loaded = Loaded::new(campaign, campaigns::calendar(db).await?);
        loaded.survey = nasvyazi_surveys::tokens::CampaignSurvey::load(db, campaign_id).await?;
        let loaded = Arc::new(loaded);
        let mut map = self.0.lock().expect("cache lock");
        if map.len() > 1000 {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(occurrence_id, (Instant::now(), loaded.clone()));
        Ok(Some(loaded))
    }
}

fn context(
    cx: &ComposeCtx,
    loaded: &Loaded,
    lang: Lang,
    links: Option<&SubscriberLinks>,
) -> Context {
    let c = &loaded.campaign;
    let day = c
        .day_code
        .as_deref()
        .and_then(|code| loaded.days.iter().find(|d| d.code == code))
        .map(|d| d.name.get(lang.code()).to_string());
    Context {
        org: cx.config().organisation.name.clone(),
        campaign: c.name.clone(),
        day,
        unsubscribe_url: links.map(|l| l.unsubscribe_url.clone()),
        forget_url: links.map(|l| l.forget_url.clone()),
        // The survey's public page (a channel post, a test send); each
        // contact's message puts their own invitation in its place.
        survey_url: loaded
            .survey
            .as_ref()
            .map(|s| super::survey_invite::plain_link(cx, s)),
    }
}

fn render_failed(e: campaigns::RenderError) -> NotReady {
    NotReady::Fail(e.to_string())
}

/// The email of a campaign to one address.
pub fn email(
    cx: &ComposeCtx,
    loaded: &Loaded,
    delivery_id: Uuid,
    to: EmailAddress,
    lang: Lang,
    unsubscribe_token: Option<&str>,
    survey_url: Option<String>,
) -> Result<EmailMessage, NotReady> {
    let config = cx.config();
    let links = unsubscribe_token.map(|t| SubscriberLinks::new(config, t, lang));
    // A survey invitation differs per recipient: rendered per recipient.
    let shared = match survey_url {
        None => shared_email(cx, loaded, lang)?,
        Some(_) => None,
    };
    let rendered = match (&links, shared) {
        (Some(l), Some(shared)) => shared.personalise(&l.unsubscribe_url, &l.forget_url),
        _ => {
            let mut ctx = context(cx, loaded, lang, links.as_ref());
            ctx.survey_url = survey_url;
            campaigns::render_email(&loaded.campaign.templates, lang, &ctx)
                .map_err(render_failed)?
        }
    };
    let inline = loaded
        .email_images
        .get()
        .map(|images| super::inline_images::for_lang(images, &loaded.campaign.templates, lang))
        .unwrap_or_default();
    Ok(EmailMessage {
        to,
        from: config.email.from.clone(),
        reply_to: None,
        subject: rendered.subject,
        text: rendered.text,
        html: Some(super::inline_images::place(&rendered.html, &inline)),
        inline,
        message_id: message_id(config, delivery_id),
        language: lang.code().to_string(),
        headers: {
            let mut h = match (&links, unsubscribe_token) {
                (Some(l), Some(t)) => l.headers(config, t),
                _ => Vec::new(),
            };
            h.extend(bulk_headers(config, loaded.campaign.id));
            h
        },
    })
}

/// Campaign mail only (never confirmations or sign-in links): `List-Id`
/// (RFC 2919) so mailbox providers group and filter it, `Feedback-ID`
/// (Gmail's feedback loop: campaign, mail type, sender) so complaint rates
/// come back per campaign, and `Precedence: bulk`, which keeps vacation
/// auto-replies from answering a broadcast.
pub fn bulk_headers(config: &nasvyazi_shared::Config, campaign: Uuid) -> Vec<(String, String)> {
    let domain = nasvyazi_shared::email::domain_of(&config.email.from)
        .unwrap_or_else(|| "nasvyazi.local".into());
    vec![
        ("List-Id".into(), format!("<campaigns.{domain}>")),
        (
            "Feedback-ID".into(),
            format!("{}:campaign:nasvyazi:{domain}", campaign.simple()),
        ),
        ("Precedence".into(), "bulk".into()),
    ]
}

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let Some(loaded) = cx.campaigns.get(cx, row.ref_id).await? else {
        return Err(NotReady::Skip("campaign deleted"));
    };
    if loaded.campaign.status == "cancelled" {
        return Err(NotReady::Skip("campaign cancelled"));
    }
    match row.channel.as_str() {
        "telegram_channel" => {
            // The configured channel (nil contact id) in the campaign's
            // first language, or a registered one in its own language.
            let (chat, lang) = if row.contact_id.is_nil() {
                let chat = cx.config().telegram.channel.clone();
                if chat.is_empty() {
                    return Err(NotReady::Fail("telegram.channel is not configured".into()));
                }
                let lang = loaded
                    .campaign
                    .languages
                    .first()
                    .and_then(|l| Lang::parse(l))
                    .unwrap_or(Lang::Ru);
                (chat, lang)
            } else {
                match crate::telegram::posts::registered(&cx.infra.db, row.contact_id).await? {
                    Some((chat, language)) => (chat, Lang::parse(&language).unwrap_or(Lang::Ru)),
                    None => return Err(NotReady::Skip("channel removed from the registry")),
                }
            };
            if let Some(prepared) = channel_poll(cx, &loaded, &chat, lang)? {
                return Ok(prepared);
            }
            let html = campaigns::render_telegram(
                &loaded.campaign.templates,
                lang,
                &context(cx, &loaded, lang, None),
            )
            .map_err(render_failed)?;
            Ok(Prepared {
                message: Outgoing::Telegram(TelegramMessage {
                    chat,
                    html,
                    reply_markup: None,
                    media: telegram_media(cx, &loaded, lang).await?,
                }),
                suppress_key: None,
            })
        }
        _ => {
            let contact = subscriber::load(cx, row.contact_id).await?;
            if contact.status != "active" {
                return Err(NotReady::Skip("contact no longer active"));
            }
            let lang = contact.language;
            let telegram = contact.channel == "telegram";
            // The recipient's own survey invitation (or a reminder's skip).
            let survey_url = match &loaded.survey {
                Some(s) => Some(super::survey_invite::link(cx, s, row.contact_id, telegram).await?),
                None => None,
            };
            let message = if telegram {
                let html = match &survey_url {
                    None => shared_telegram(cx, &loaded, lang)?,
                    Some(url) => {
                        let mut ctx = context(cx, &loaded, lang, None);
                        ctx.survey_url = Some(url.clone());
                        campaigns::render_telegram(&loaded.campaign.templates, lang, &ctx)
                            .map_err(render_failed)?
                    }
                };
                Outgoing::Telegram(TelegramMessage {
                    chat: contact.address.clone(),
                    html,
                    reply_markup: None,
                    media: telegram_media(cx, &loaded, lang).await?,
                })
            } else {
                let to = contact.email().ok_or_else(|| {
                    NotReady::Fail("stored address is not an email address".into())
                })?;
                load_email_images(cx, &loaded).await?;
                Outgoing::Email(email(
                    cx,
                    &loaded,
                    row.id,
                    to,
                    lang,
                    Some(&contact.unsubscribe_token),
                    survey_url,
                )?)
            };
            Ok(Prepared {
                message,
                suppress_key: Some(contact.blind_index.clone()),
            })
        }
    }
}

/// The channel post as a native anonymous poll, when the template of the
/// post's language has one ([`campaigns::pick_telegram_poll`]): that
/// language's Telegram text (if any) first, then the poll. Only channel
/// posts: direct messages and test sends keep the text (a poll in a
/// private chat is not anonymous in spirit).
fn channel_poll(
    cx: &ComposeCtx,
    loaded: &Loaded,
    chat: &str,
    lang: Lang,
) -> Result<Option<Prepared>, NotReady> {
    let templates = &loaded.campaign.templates;
    let Some((poll_lang, poll)) = campaigns::pick_telegram_poll(templates, lang) else {
        return Ok(None);
    };
    let html = if campaigns::has_telegram_text(templates, poll_lang) {
        campaigns::render_telegram(templates, poll_lang, &context(cx, loaded, poll_lang, None))
            .map_err(render_failed)?
    } else {
        String::new()
    };
    Ok(Some(Prepared {
        message: Outgoing::TelegramPoll(TelegramPoll {
            chat: chat.to_string(),
            html,
            question: poll.question.clone(),
            options: poll.options.clone(),
            allows_multiple_answers: poll.allows_multiple_answers,
        }),
        suppress_key: None,
    }))
}

/// A test send before approval, to the one address or chat an organiser gave.
pub async fn prepare_test(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let db = &cx.infra.db;
    type TestRow = (Uuid, String, String, Vec<u8>, Vec<u8>);
    let test: Option<TestRow> = sqlx::query_as(
        "SELECT campaign_id, channel, language, data_key, address_ct FROM campaign_test_sends WHERE id = $1",
    )
    .bind(row.ref_id)
    .fetch_optional(db)
    .await?;
    let Some((campaign_id, channel, language, data_key, address_ct)) = test else {
        return Err(NotReady::Skip("test send deleted"));
    };
    let key = cx
        .keys
        .unwrap_data_key(&data_key)
        .map_err(|_| NotReady::Fail("test address cannot be decrypted".into()))?;
    let address = key
        .open_string(
            &address_ct,
            format!("campaign_test:{}:address", row.ref_id).as_bytes(),
        )
        .map_err(|_| NotReady::Fail("test address cannot be decrypted".into()))?;
    let Some(campaign) = Campaign::load(db, campaign_id).await? else {
        return Err(NotReady::Skip("campaign deleted"));
    };
    // A series: its next post.
    let campaign = campaign.for_preview(chrono::Utc::now()).into_owned();
    let mut loaded = Loaded::new(campaign, campaigns::calendar(db).await?);
    loaded.survey = nasvyazi_surveys::tokens::CampaignSurvey::load(db, campaign_id).await?;
    let lang = Lang::parse(&language).unwrap_or(Lang::Ru);
    let message = if channel == "telegram" {
        let html = campaigns::render_telegram(
            &loaded.campaign.templates,
            lang,
            &context(cx, &loaded, lang, None),
        )
        .map_err(render_failed)?;
        Outgoing::Telegram(TelegramMessage {
            chat: address,
            html,
            reply_markup: None,
            media: telegram_media(cx, &loaded, lang).await?,
        })
    } else {
        let to = EmailAddress::parse(&address)
            .map_err(|_| NotReady::Fail("invalid test address".into()))?;
        load_email_images(cx, &loaded).await?;
        let survey_url = loaded
            .survey
            .as_ref()
            .map(|s| super::survey_invite::plain_link(cx, s));
        Outgoing::Email(email(cx, &loaded, row.id, to, lang, None, survey_url)?)
    };
    Ok(Prepared {
        message,
        suppress_key: None,
    })
}
