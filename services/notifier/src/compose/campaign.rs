//! Campaign messages: the occurrence's campaign, rendered per recipient's
//! language (fallback kk -> ru -> en) for email (with the unsubscribe
//! headers) or Telegram (HTML, every substituted value escaped), or as the
//! one post to the configured Telegram channel. Also test sends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nasvyazi_shared::campaigns::{self, Campaign, Context};
use nasvyazi_shared::channel::{EmailMessage, Outgoing, TelegramMessage};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::Lang;
use uuid::Uuid;

use super::{NotReady, Prepared, subscriber};
use crate::deliveries::Claimed;
use crate::render::{SubscriberLinks, message_id};
use crate::worker::Worker;

/// A campaign and its calendar, as one occurrence's deliveries need them.
pub struct Loaded {
    pub campaign: Campaign,
    pub days: Vec<nasvyazi_shared::schedule::AwarenessDay>,
    /// The email rendered once per language (`None`: render per recipient).
    pub shared: Mutex<HashMap<Lang, Option<Arc<campaigns::SharedEmail>>>>,
    /// The Telegram text rendered once per language (it has no
    /// per-recipient values).
    pub telegram: Mutex<HashMap<Lang, String>>,
}

impl Loaded {
    pub fn new(campaign: Campaign, days: Vec<nasvyazi_shared::schedule::AwarenessDay>) -> Self {
        Loaded {
            campaign,
            days,
            shared: Mutex::default(),
            telegram: Mutex::default(),
        }
    }
}

/// The occurrence's Telegram text in `lang`, rendered once.
fn shared_telegram(worker: &Worker, loaded: &Loaded, lang: Lang) -> Result<String, NotReady> {
    if let Some(html) = loaded.telegram.lock().expect("telegram lock").get(&lang) {
        return Ok(html.clone());
    }
    let html = campaigns::render_telegram(
        &loaded.campaign.templates,
        lang,
        &context(worker, loaded, lang, None),
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
    worker: &Worker,
    loaded: &Loaded,
    lang: Lang,
) -> Result<Option<Arc<campaigns::SharedEmail>>, NotReady> {
    if let Some(s) = loaded.shared.lock().expect("shared lock").get(&lang) {
        return Ok(s.clone());
    }
    let ctx = context(worker, loaded, lang, None);
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
        worker: &Worker,
        occurrence_id: Uuid,
    ) -> Result<Option<Arc<Loaded>>, NotReady> {
        if let Some((at, loaded)) = self.0.lock().expect("cache lock").get(&occurrence_id)
            && at.elapsed() < TTL
        {
            return Ok(Some(loaded.clone()));
        }
        let db = &worker.infra.db;
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
        let loaded = Arc::new(Loaded::new(campaign, campaigns::calendar(db).await?));
        let mut map = self.0.lock().expect("cache lock");
        if map.len() > 1000 {
            map.retain(|_, (at, _)| at.elapsed() < TTL);
        }
        map.insert(occurrence_id, (Instant::now(), loaded.clone()));
        Ok(Some(loaded))
    }
}

fn context(
    worker: &Worker,
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
        org: worker.config().organisation.name.clone(),
        campaign: c.name.clone(),
        day,
        unsubscribe_url: links.map(|l| l.unsubscribe_url.clone()),
        forget_url: links.map(|l| l.forget_url.clone()),
    }
}

fn render_failed(e: campaigns::RenderError) -> NotReady {
    NotReady::Fail(e.to_string())
}

/// The email of a campaign to one address.
pub fn email(
    worker: &Worker,
    loaded: &Loaded,
    delivery_id: Uuid,
    to: EmailAddress,
    lang: Lang,
    unsubscribe_token: Option<&str>,
) -> Result<EmailMessage, NotReady> {
    let config = worker.config();
    let links = unsubscribe_token.map(|t| SubscriberLinks::new(config, t, lang));
    let rendered = match (&links, shared_email(worker, loaded, lang)?) {
        (Some(l), Some(shared)) => shared.personalise(&l.unsubscribe_url, &l.forget_url),
        _ => {
            let ctx = context(worker, loaded, lang, links.as_ref());
            campaigns::render_email(&loaded.campaign.templates, lang, &ctx)
                .map_err(render_failed)?
        }
    };
    Ok(EmailMessage {
        to,
        from: config.email.from.clone(),
        reply_to: None,
        subject: rendered.subject,
        text: rendered.text,
        html: Some(rendered.html),
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

pub async fn prepare(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    let Some(loaded) = worker.campaigns.get(worker, row.ref_id).await? else {
        return Err(NotReady::Skip("campaign deleted"));
    };
    if loaded.campaign.status == "cancelled" {
        return Err(NotReady::Skip("campaign cancelled"));
    }
    match row.channel.as_str() {
        "telegram_channel" => {
            let chat = worker.config().telegram.channel.clone();
            if chat.is_empty() {
                return Err(NotReady::Fail("telegram.channel is not configured".into()));
            }
            let lang = loaded
                .campaign
                .languages
                .first()
                .and_then(|l| Lang::parse(l))
                .unwrap_or(Lang::Ru);
            let html = campaigns::render_telegram(
                &loaded.campaign.templates,
                lang,
                &context(worker, &loaded, lang, None),
            )
            .map_err(render_failed)?;
            Ok(Prepared {
                message: Outgoing::Telegram(TelegramMessage {
                    chat,
                    html,
                    reply_markup: None,
                }),
                suppress_key: None,
            })
        }
        _ => {
            let contact = subscriber::load(worker, row.contact_id).await?;
            if contact.status != "active" {
                return Err(NotReady::Skip("contact no longer active"));
            }
            let lang = contact.language;
            let message = if contact.channel == "telegram" {
                let html = shared_telegram(worker, &loaded, lang)?;
                Outgoing::Telegram(TelegramMessage {
                    chat: contact.address.clone(),
                    html,
                    reply_markup: None,
                })
            } else {
                let to = contact.email().ok_or_else(|| {
                    NotReady::Fail("stored address is not an email address".into())
                })?;
                Outgoing::Email(email(
                    worker,
                    &loaded,
                    row.id,
                    to,
                    lang,
                    Some(&contact.unsubscribe_token),
                )?)
            };
            Ok(Prepared {
                message,
                suppress_key: Some(contact.blind_index.clone()),
            })
        }
    }
}

/// A test send before approval, to the one address or chat an organiser gave.
pub async fn prepare_test(worker: &Worker, row: &Claimed) -> Result<Prepared, NotReady> {
    let db = &worker.infra.db;
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
    let key = worker
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
    let loaded = Loaded::new(campaign, campaigns::calendar(db).await?);
    let lang = Lang::parse(&language).unwrap_or(Lang::Ru);
    let message = if channel == "telegram" {
        let html = campaigns::render_telegram(
            &loaded.campaign.templates,
            lang,
            &context(worker, &loaded, lang, None),
        )
        .map_err(render_failed)?;
        Outgoing::Telegram(TelegramMessage {
            chat: address,
            html,
            reply_markup: None,
        })
    } else {
        let to = EmailAddress::parse(&address)
            .map_err(|_| NotReady::Fail("invalid test address".into()))?;
        Outgoing::Email(email(worker, &loaded, row.id, to, lang, None)?)
    };
    Ok(Prepared {
        message,
        suppress_key: None,
    })
}
