//! The one-time sign-in link a console user asked for (front writes the
//! link, sealed under the user's data key; this module opens it only to
//! send it). The ledger row's reference is the link: one email per link; a
//! link used, expired or belonging to a disabled user is skipped. No
//! List-Unsubscribe: this is a message to staff, not to a supporter.
//!
//! A link whose `purpose` is `unlock` (sent when repeated failures lock the
//! account) goes the same way, with its own words and address
//! (`/admin/unlock/...`): it lifts the lock, it does not sign in.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::channels::{EmailMessage, Outgoing};
use minijinja::Environment;
use nasvyazi_shared::console::{link_aad, user_aad};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::{self, Lang};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::ComposeCtx;
use super::{NotReady, Prepared};
use crate::deliveries::{self, Claimed};
use crate::render::message_id;

/// The ledger's kind for these emails.
pub const KIND: &str = crate::deliveries::Kind::ConsoleLink.as_str();

fn templates() -> &'static Arc<Environment<'static>> {
    static ENV: OnceLock<Arc<Environment<'static>>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            (
                "console_link.txt",
                include_str!("../../templates/email/console_link.txt"),
            ),
            (
                "console_link.html",
                include_str!("../../templates/email/console_link.html"),
            ),
            (
                "console_unlock.txt",
                include_str!("../../templates/email/console_unlock.txt"),
            ),
            (
                "console_unlock.html",
                include_str!("../../templates/email/console_unlock.html"),
            ),
        ] {
            env.add_template(name, src).expect("email template parses");
        }
        i18n::register(&mut env);
        Arc::new(env)
    })
}

/// Queues the email of link `link_id` (idempotent: one row per link) and
/// wakes the workers.
pub async fn queue(conn: &mut PgConnection, link_id: Uuid) -> sqlx::Result<u64> {
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'console_link', id, user_id, 'email' FROM console_sign_in_links
         WHERE id = $1 AND used_at IS NULL AND expires_at > now()
         ON CONFLICT DO NOTHING",
    )
    .bind(link_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    deliveries::wake(conn).await?;
    Ok(n)
}

/// Reconciliation: links issued more than `grace` ago, still usable, whose
/// event never arrived.
pub async fn reconcile(db: &PgPool, grace: Duration) -> sqlx::Result<u64> {
    let mut conn = db.acquire().await?;
    let n = sqlx::query(
        "INSERT INTO deliveries (id, kind, ref_id, contact_id, channel)
         SELECT gen_random_uuid(), 'console_link', l.id, l.user_id, 'email' FROM console_sign_in_links l
         WHERE l.used_at IS NULL AND l.expires_at > now() AND l.created_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.kind = 'console_link' AND d.ref_id = l.id)
         ON CONFLICT DO NOTHING",
    )
    .bind(grace.as_secs_f64())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if n > 0 {
        tracing::info!(
            queued = n,
            "reconciliation queued sign-in links whose event was lost"
        );
        deliveries::wake(&mut conn).await?;
    }
    Ok(n)
}

type Row = (Vec<u8>, Vec<u8>, String, Vec<u8>, bool, bool, String);

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let found: Option<Row> = sqlx::query_as(
        "SELECT u.data_key, u.email_ct, u.language, l.token_ct,
                l.used_at IS NULL AND l.expires_at > now(), u.disabled_at IS NULL, l.purpose
         FROM console_sign_in_links l JOIN console_users u ON u.id = l.user_id
         WHERE l.id = $1 AND u.id = $2",
    )
    .bind(row.ref_id)
    .bind(row.contact_id)
    .fetch_optional(&cx.infra.db)
    .await?;
    let Some((wrapped, email_ct, language, token_ct, usable, enabled, purpose)) = found else {
        return Err(NotReady::Skip("user or link deleted"));
    };
    if !usable || !enabled {
        return Err(NotReady::Skip("link used, expired or user disabled"));
    }
    let fail = |_| NotReady::Fail("console user cannot be decrypted (wrong master key?)".into());
    let key = cx.keys.unwrap_data_key(&wrapped).map_err(fail)?;
    let to = key
        .open_string(&email_ct, &user_aad(row.contact_id, "email"))
        .map_err(fail)?;
    let token = key
        .open_string(&token_ct, &link_aad(row.ref_id))
        .map_err(fail)?;
    let to = EmailAddress::parse(&to)
        .map_err(|_| NotReady::Fail("stored address is not an email address".into()))?;
    let lang = Lang::parse(&language).unwrap_or(Lang::Ru);
    let config = cx.config();
    let org = &config.organisation.name;
    // Our own URL (base from config, a base64url token): safe as it is.
    let unlock = purpose == "unlock";
    let (path, name, subject) = if unlock {
        ("unlock", "console_unlock", "console_mail.unlock_subject")
    } else {
        ("sign-in/link", "console_link", "console_mail.link_subject")
    };
    let link_url = minijinja::Value::from_safe_string(format!(
        "{}/admin/{path}/{token}?lang={}",
        config.console_base(),
        lang.code()
    ));
    let ctx = minijinja::context! { lang => lang.code(), org, link_url };
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
        subject: i18n::fill(&i18n::t(lang, subject), &[("org", org)]),
        text: render(&format!("{name}.txt"))?,
        html: Some(render(&format!("{name}.html"))?),
        message_id: message_id(config, row.id),
        language: lang.code().to_string(),
        headers: Vec::new(),
        inline: Vec::new(),
    };
    // Staff addresses are not suppressed by supporters' bounces (another
    // blind-index domain); a permanent refusal just fails the row.
    Ok(Prepared {
        message: Outgoing::Email(message),
        suppress_key: None,
    })
}
