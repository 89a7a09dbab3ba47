//! The email that asks a signer to confirm their signature (double opt-in,
//! as for subscriptions), with the link to withdraw it. Sent by the
//! delivery worker; the ledger row's reference is the confirmation nonce,
//! so a superseded confirmation is skipped.

use std::sync::{Arc, OnceLock};

use crate::channels::{EmailMessage, Outgoing};
use minijinja::Environment;
use nasvyazi_letters::signature_aad;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::{self, Lang};
use uuid::Uuid;

use super::ComposeCtx;
use super::{NotReady, Prepared};
use crate::deliveries::{self, Claimed};
use crate::render::message_id;

fn templates() -> &'static Arc<Environment<'static>> {
    static ENV: OnceLock<Arc<Environment<'static>>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            (
                "signature_confirm.txt",
                include_str!("../../templates/email/signature_confirm.txt"),
            ),
            (
                "signature_confirm.html",
                include_str!("../../templates/email/signature_confirm.html"),
            ),
        ] {
            env.add_template(name, src).expect("email template parses");
        }
        i18n::register(&mut env);
        Arc::new(env)
    })
}

type Row = (
    Option<Uuid>,
    Option<chrono::DateTime<chrono::Utc>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    String,
    String,
    Option<Vec<u8>>,
    bool,
);

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let db = &cx.infra.db;
    let found: Option<Row> = sqlx::query_as(
        "SELECT s.confirm_nonce, s.confirmed_at, s.data_key, s.email_ct, s.confirm_token_ct, s.withdraw_token_ct,
                s.language, l.name, s.forget_token_ct, s.via_onion
         FROM letter_signatures s JOIN letters l ON l.id = s.letter_id WHERE s.id = $1",
    )
    .bind(row.contact_id)
    .fetch_optional(db)
    .await?;
    let Some((
        nonce,
        confirmed,
        Some(data_key),
        Some(email_ct),
        Some(confirm_ct),
        Some(withdraw_ct),
        language,
        letter,
        forget_ct,
        via_onion,
    )) = found
    else {
        return Err(NotReady::Skip("signature withdrawn or deleted"));
    };
    if nonce != Some(row.ref_id) || confirmed.is_some() {
        return Err(NotReady::Skip("confirmation no longer current"));
    }
    let id = row.contact_id;
    let fail = |_| NotReady::Fail("signature cannot be decrypted (wrong master key?)".into());
    let key = cx.keys.unwrap_data_key(&data_key).map_err(fail)?;
    let open = |ct: &[u8], field| key.open_string(ct, &signature_aad(id, field)).map_err(fail);
    let to = EmailAddress::parse(&open(&email_ct, "email")?)
        .map_err(|_| NotReady::Fail("stored address is not an email address".into()))?;
    let bi = cx.keys.blind_index("email", &to.normalised());
    if deliveries::is_suppressed(db, "email", &bi).await? {
        return Err(NotReady::Skip("suppressed"));
    }
    let lang = Lang::parse(&language).unwrap_or(Lang::Ru);
    let config = cx.config();
    let base = crate::render::base(config, via_onion);
    let url = |path: &str, token: &str| {
        minijinja::Value::from_safe_string(format!(
            "{base}/letters/{path}/{token}?lang={}",
            lang.code()
        ))
    };
    let ctx = minijinja::context! {
        lang => lang.code(),
        org => &config.organisation.name,
        letter => letter,
        confirm_url => url("confirm", &open(&confirm_ct, "confirm")?),
        withdraw_url => url("withdraw", &open(&withdraw_ct, "withdraw")?),
        forget_url => match &forget_ct {
            Some(ct) => Some(url("forget", &open(ct, "forget")?)),
            None => None,
        },
    };
    let render = |name: &str| {
        templates()
            .get_template(name)
            .and_then(|t| t.render(&ctx))
            .map_err(|e| NotReady::Fail(format!("template: {e}")))
    };
    let message = EmailMessage {
        to,
        from: config.email.from.clone(),
        reply_to: None,
        subject: i18n::t(lang, "letter_email.confirm_subject"),
        text: render("signature_confirm.txt")?,
        html: Some(render("signature_confirm.html")?),
        message_id: message_id(config, row.id),
        language: lang.code().to_string(),
        headers: Vec::new(),
        inline: Vec::new(),
    };
    Ok(Prepared {
        message: Outgoing::Email(message),
        suppress_key: Some(bi),
    })
}
