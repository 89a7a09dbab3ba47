//! The acknowledgement an appellant who left a contact gets: the case
//! number and where to check the status, never the access code or the
//! text. Also the appellant-side helpers `appeal_status` shares: load the
//! appeal and its contact (decrypted only here, only to send), and turn a
//! rendered message into an email or a Telegram message.

use crate::channels::{EmailMessage, Outgoing, TelegramMessage};
use minijinja::Value;
use nasvyazi_cases::appeals::stored::{self as appeals, AppealSummary, Contact};
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_supporters::contacts::LoadError;

use super::ComposeCtx;
use super::{NotReady, Prepared};
use crate::deliveries::{self, Claimed};
use crate::render;
use uuid::Uuid;

/// The appeal and the contact to write to, if there still is one.
pub(super) async fn appellant(
    cx: &ComposeCtx,
    row: &Claimed,
) -> Result<(AppealSummary, Contact), NotReady> {
    let db = &cx.infra.db;
    let Some(summary) = appeals::load_summary(db, row.contact_id).await? else {
        return Err(NotReady::Skip("appeal erased"));
    };
    let contact = match appeals::load_contact(db, &cx.keys, row.contact_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(NotReady::Skip("appeal erased or without contact")),
        Err(LoadError::Db(e)) => return Err(e.into()),
        Err(LoadError::Crypto(_)) => {
            return Err(NotReady::Fail(
                "appeal contact cannot be decrypted (wrong master key?)".into(),
            ));
        }
    };
    if contact.channel() != row.channel {
        return Err(NotReady::Fail(
            "ledger channel differs from the contact's".into(),
        ));
    }
    Ok((summary, contact))
}

/// The links in a message to the appellant: where they check the status
/// (with their access code) and, when the appeal has one, the "forget me"
/// link that erases their contact. On the onion address when the appeal
/// came through it.
pub(super) struct Links {
    pub status_url: Value,
    pub forget_url: Option<Value>,
}

pub(super) async fn links(cx: &ComposeCtx, id: Uuid, lang: Lang) -> Result<Links, NotReady> {
    let found: Option<(Vec<u8>, Option<Vec<u8>>, bool)> =
        sqlx::query_as("SELECT data_key, forget_token_ct, via_onion FROM appeals WHERE id = $1")
            .bind(id)
            .fetch_optional(&cx.infra.db)
            .await?;
    let Some((wrapped, forget_ct, via_onion)) = found else {
        return Err(NotReady::Skip("appeal erased"));
    };
    let base = render::base(cx.config(), via_onion);
    let forget_url = match forget_ct {
        Some(ct) => {
            let fail =
                |_| NotReady::Fail("appeal token cannot be decrypted (wrong master key?)".into());
            let key = cx.keys.unwrap_data_key(&wrapped).map_err(fail)?;
            let token = key
                .open_string(&ct, &appeals::aad(id, "forget"))
                .map_err(fail)?;
            Some(Value::from_safe_string(format!(
                "{base}/appeal/forget/{token}?lang={}",
                lang.code()
            )))
        }
        None => None,
    };
    Ok(Links {
        status_url: Value::from_safe_string(format!("{base}/appeal/status?lang={}", lang.code())),
        forget_url,
    })
}

/// Renders `<name>.txt` / `<name>.html` (email) or `telegram/appeal.html`
/// for the appellant's contact.
pub(super) async fn to_appellant(
    cx: &ComposeCtx,
    row: &Claimed,
    contact: Contact,
    lang: Lang,
    name: &str,
    subject: String,
    ctx: Value,
) -> Result<Prepared, NotReady> {
    let env = &cx.templates;
    let fail = |e: minijinja::Error| NotReady::Fail(format!("template {name}: {e}"));
    match contact {
        Contact::Email(to) => {
            let suppress = cx.keys.blind_index("email", &to.normalised());
            if deliveries::is_suppressed(&cx.infra.db, "email", &suppress).await? {
                return Err(NotReady::Skip("suppressed"));
            }
            let ctx = minijinja::context! { subject => &subject, ..ctx };
            let text = env
                .get_template(&format!("email/{name}.txt"))
                .and_then(|t| t.render(&ctx))
                .map_err(fail)?;
            let html = env
                .get_template(&format!("email/{name}.html"))
                .and_then(|t| t.render(&ctx))
                .map_err(fail)?;
            let config = cx.config();
            Ok(Prepared {
                message: Outgoing::Email(EmailMessage {
                    to,
                    from: config.email.from.clone(),
                    reply_to: None,
                    subject,
                    text,
                    html: Some(html),
                    message_id: render::message_id(config, row.id),
                    language: lang.code().to_string(),
                    headers: Vec::new(),
                    inline: Vec::new(),
                }),
                suppress_key: Some(suppress),
            })
        }
        Contact::Telegram(chat) => {
            if !cx.telegram {
                return Err(NotReady::Skip("no Telegram bot configured"));
            }
            if chat.starts_with('@') {
                // A bot cannot open a chat by username; the caseworker can.
                return Err(NotReady::Skip("telegram username, no chat id"));
            }
            let html = env
                .get_template("telegram/appeal.html")
                .and_then(|t| t.render(&ctx))
                .map_err(fail)?;
            Ok(Prepared {
                message: Outgoing::Telegram(TelegramMessage {
                    chat,
                    html: html.trim().to_string(),
                    reply_markup: None,
                    media: Vec::new(),
                }),
                // Not a subscriber: a block must not touch `contacts`.
                suppress_key: None,
            })
        }
    }
}

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let (summary, contact) = appellant(cx, row).await?;
    let lang = summary.lang();
    let org = &cx.config().organisation.name;
    let case = &summary.case_number;
    let links = links(cx, row.contact_id, lang).await?;
    let ctx = minijinja::context! {
        lang => lang.code(),
        org,
        case,
        status_url => links.status_url,
        forget_url => links.forget_url,
        headline => i18n::fill(&i18n::t(lang, "appeal_mail.ack_body"), &[("case", case), ("org", org)]),
    };
    let subject = i18n::fill(&i18n::t(lang, "appeal_mail.ack_subject"), &[("case", case)]);
    to_appellant(cx, row, contact, lang, "appeal_ack", subject, ctx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appellant_and_staff_templates_render_in_every_language() {
        let env = render::templates();
        for lang in Lang::ALL {
            let ctx = minijinja::context! {
                lang => lang.code(), org => "Forum <KZ>", case => "KZ-7F3K-9QX2",
                status_name => "X", subject => "S", category => "C", region => "R",
                status_url => Value::from_safe_string("https://f.kz/appeal/status?lang=ru".into()),
                admin_url => Value::from_safe_string("https://f.kz/api/v1/admin/appeals/1".into()),
                forget_url => Value::from_safe_string("https://f.kz/appeal/forget/TOKEN?lang=ru".into()),
                headline => "H & <b>",
            };
            for name in [
                "email/appeal_ack.txt",
                "email/appeal_ack.html",
                "email/appeal_status.txt",
                "email/appeal_status.html",
                "email/staff_alert.txt",
                "email/staff_alert.html",
                "telegram/appeal.html",
                "telegram/staff_alert.html",
            ] {
                let out = env.get_template(name).unwrap().render(&ctx).unwrap();
                assert!(
                    !out.contains("appeal_mail."),
                    "{name} {}: {out}",
                    lang.code()
                );
                if name.ends_with(".html") {
                    assert!(!out.contains("<KZ>"), "escaped in {name}");
                }
                if name.starts_with("email/appeal") {
                    assert!(
                        out.contains("KZ-7F3K-9QX2") && out.contains("https://f.kz/appeal/status")
                    );
                    assert!(
                        out.contains("https://f.kz/appeal/forget/TOKEN"),
                        "{name}: {out}"
                    );
                    assert!(!out.contains("appeal_forget."), "{name}: {out}");
                }
            }
            let tg = env
                .get_template("telegram/appeal.html")
                .unwrap()
                .render(&ctx)
                .unwrap();
            assert!(tg.contains("H &amp; &lt;b&gt;"), "{tg}");
        }
    }
}
