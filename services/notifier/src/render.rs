//! Email rendering: minijinja templates per layout, strings from the shared
//! ru / kk / en catalogs (missing strings fall back kk -> ru -> en), text +
//! HTML, and the RFC 8058 unsubscribe headers every subscriber email carries.

use std::sync::Arc;

use crate::channels::EmailMessage;
use minijinja::Environment;
use nasvyazi_shared::Config;
use nasvyazi_shared::email::{EmailAddress, parse_mailbox};
use nasvyazi_shared::i18n::{self, Lang};
use uuid::Uuid;

/// Email templates, parsed once.
pub fn templates() -> Arc<Environment<'static>> {
    let mut env = Environment::new();
    for (name, src) in [
        (
            "email/confirm.txt",
            include_str!("../templates/email/confirm.txt"),
        ),
        (
            "email/confirm.html",
            include_str!("../templates/email/confirm.html"),
        ),
        (
            "email/appeal_ack.txt",
            include_str!("../templates/email/appeal_ack.txt"),
        ),
        (
            "email/appeal_ack.html",
            include_str!("../templates/email/appeal_ack.html"),
        ),
        (
            "email/appeal_status.txt",
            include_str!("../templates/email/appeal_status.txt"),
        ),
        (
            "email/appeal_status.html",
            include_str!("../templates/email/appeal_status.html"),
        ),
        (
            "email/staff_alert.txt",
            include_str!("../templates/email/staff_alert.txt"),
        ),
        (
            "email/staff_alert.html",
            include_str!("../templates/email/staff_alert.html"),
        ),
        (
            "telegram/appeal.html",
            include_str!("../templates/telegram/appeal.html"),
        ),
        (
            "telegram/staff_alert.html",
            include_str!("../templates/telegram/staff_alert.html"),
        ),
    ] {
        env.add_template(name, src).expect("email template parses");
    }
    i18n::register(&mut env);
    Arc::new(env)
}

/// The base of links in a message: `http.onion_url` when what the message
/// answers came through the onion address (and one is configured), else
/// `http.public_url`.
pub fn base(config: &Config, via_onion: bool) -> &str {
    match (&config.http.onion_url, via_onion) {
        (Some(onion), true) => onion.trim_end_matches('/'),
        _ => config.public_base(),
    }
}

/// Links and headers for one subscriber.
pub struct SubscriberLinks {
    pub unsubscribe_url: String,
    pub forget_url: String,
}

impl SubscriberLinks {
    pub fn new(config: &Config, unsubscribe_token: &str, lang: Lang) -> Self {
        let base = config.public_base();
        SubscriberLinks {
            unsubscribe_url: format!("{base}/u/{unsubscribe_token}?lang={}", lang.code()),
            forget_url: format!("{base}/forget/{unsubscribe_token}?lang={}", lang.code()),
        }
    }

    /// RFC 8058 one-click headers (and RFC 2369's mailto form if configured).
    pub fn headers(&self, config: &Config, unsubscribe_token: &str) -> Vec<(String, String)> {
        let mut value = format!("<{}>", self.unsubscribe_url);
        if !config.email.unsubscribe_mailto.is_empty() {
            value.push_str(&format!(
                ", <mailto:{}?subject=unsubscribe%20{unsubscribe_token}>",
                config.email.unsubscribe_mailto
            ));
        }
        vec![
            ("List-Unsubscribe".into(), value),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ]
    }
}

/// `<opaque>@<sender's domain>`: stable per delivery, but not the
/// delivery id (an HMAC of it under the blind-index key), so a message in
/// a seized mailbox does not name its row in a seized database. Bounces
/// are matched by the VERP return path, never by this.
pub fn message_id(config: &Config, delivery_id: Uuid) -> String {
    let domain = parse_mailbox(&config.email.from)
        .map(|(_, a)| a.domain().to_string())
        .unwrap_or_else(|| "nasvyazi.local".into());
    let local = match nasvyazi_shared::crypto::Keyring::from_config(&config.crypto) {
        Ok(keys) => keys.opaque_id("message-id", &delivery_id.to_string()),
        // No keys (never in a running service): random, still opaque.
        Err(_) => Uuid::new_v4().simple().to_string(),
    };
    format!("{local}@{domain}")
}

/// The double opt-in confirmation email.
pub fn confirmation(
    env: &Environment<'static>,
    config: &Config,
    delivery_id: Uuid,
    to: EmailAddress,
    lang: Lang,
    confirm_token: &str,
    unsubscribe_token: &str,
) -> Result<EmailMessage, minijinja::Error> {
    confirmation_via(
        env,
        config,
        delivery_id,
        to,
        lang,
        (confirm_token, unsubscribe_token),
        false,
    )
}

/// [`confirmation`] with links on the onion address when the request came
/// through it (`via_onion`).
pub fn confirmation_via(
    env: &Environment<'static>,
    config: &Config,
    delivery_id: Uuid,
    to: EmailAddress,
    lang: Lang,
    (confirm_token, unsubscribe_token): (&str, &str),
    via_onion: bool,
) -> Result<EmailMessage, minijinja::Error> {
    let base = base(config, via_onion);
    let mut links = SubscriberLinks::new(config, unsubscribe_token, lang);
    if via_onion {
        // The List-Unsubscribe header keeps the public address (mail
        // providers call it); the links a person reads follow the onion.
        links.forget_url = format!("{base}/forget/{unsubscribe_token}?lang={}", lang.code());
    }
    let unsubscribe_url = format!("{base}/u/{unsubscribe_token}?lang={}", lang.code());
    let confirm_url = format!("{base}/confirm/{confirm_token}?lang={}", lang.code());
    // Our own URLs (base from config, base64url tokens): marked safe so the
    // HTML keeps them readable instead of escaping every `/`.
    let url = |u: &str| minijinja::Value::from_safe_string(u.to_string());
    let ctx = minijinja::context! {
        lang => lang.code(),
        org => &config.organisation.name,
        confirm_url => url(&confirm_url),
        unsubscribe_url => url(&unsubscribe_url),
        forget_url => url(&links.forget_url),
    };
    let text = env.get_template("email/confirm.txt")?.render(&ctx)?;
    let html = env.get_template("email/confirm.html")?.render(&ctx)?;
    Ok(EmailMessage {
        to,
        from: config.email.from.clone(),
        reply_to: None,
        subject: i18n::t(lang, "email.confirm_subject"),
        text,
        html: Some(html),
        message_id: message_id(config, delivery_id),
        language: lang.code().to_string(),
        headers: links.headers(config, unsubscribe_token),
        inline: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_renders_in_every_language_with_unsubscribe_headers() {
        use secrecy::ExposeSecret;
        let keys = nasvyazi_shared::crypto::Keyring::generate();
        let config = Config::from_toml(&format!(
            "[http]\npublic_url = \"https://forum.example.kz/\"\n[email]\nfrom = \"Forum <noreply@forum.example.kz>\"\nunsubscribe_mailto = \"u@forum.example.kz\"\n[crypto]\nmaster_key = \"{}\"\nblind_index_key = \"{}\"\n",
            keys.master_base64().expose_secret(),
            keys.blind_base64().expose_secret(),
        ))
        .unwrap();
        let env = templates();
        let to = EmailAddress::parse("someone@example.kz").unwrap();
        let id = Uuid::nil();
        let mut subjects = Vec::new();
        for lang in Lang::ALL {
            let m = confirmation(&env, &config, id, to.clone(), lang, "CONFIRM", "UNSUB").unwrap();
            assert!(
                m.text
                    .contains("https://forum.example.kz/confirm/CONFIRM?lang="),
                "{}",
                m.text
            );
            let html = m.html.as_deref().unwrap();
            assert!(
                html.contains("href=\"https://forum.example.kz/confirm/CONFIRM"),
                "{html}"
            );
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.code())));
            assert!(
                !m.text.contains("email."),
                "no untranslated key in {}",
                lang.code()
            );
            // Stable per delivery, and opaque: not the delivery id.
            assert_eq!(m.message_id, message_id(&config, id));
            assert!(m.message_id.ends_with("@forum.example.kz"));
            assert!(!m.message_id.contains(&id.to_string()));
            let lu = &m.headers[0];
            assert_eq!(lu.0, "List-Unsubscribe");
            assert!(
                lu.1.starts_with("<https://forum.example.kz/u/UNSUB"),
                "{}",
                lu.1
            );
            assert!(lu.1.contains("<mailto:u@forum.example.kz?subject=unsubscribe%20UNSUB>"));
            assert_eq!(
                m.headers[1],
                (
                    "List-Unsubscribe-Post".into(),
                    "List-Unsubscribe=One-Click".into()
                )
            );
            subjects.push(m.subject);
        }
        assert_eq!(
            subjects,
            [
                "Подтвердите подписку",
                "Жазылымды растаңыз",
                "Confirm your subscription"
            ]
        );
    }
}
