//! The alert staff get for a new appeal, by email (`appeals.staff_email`)
//! or in the staff Telegram chat (`telegram.staff_chat`): case number,
//! category, region and a link to the admin API. Never the text, never the
//! contact: this module does not decrypt anything.

use crate::channels::{EmailMessage, Outgoing};
use minijinja::Value;
use nasvyazi_cases::appeals::stored::{self as appeals, AppealSummary};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_shared::i18n::{self, Lang};
use nasvyazi_supporters::regions;

use super::ComposeCtx;
use super::{NotReady, Prepared};
use crate::deliveries::Claimed;
use crate::render;

/// Staff read alerts in Russian.
const STAFF_LANG: Lang = Lang::Ru;

/// The region's name: built-in, else organiser-added, else its code.
async fn region_name(cx: &ComposeCtx, code: &str) -> Result<String, NotReady> {
    if let Some(r) = regions::builtin().iter().find(|r| r.code == code) {
        return Ok(r.name.get(STAFF_LANG.code()).to_string());
    }
    let custom: Option<String> = sqlx::query_scalar(
        "SELECT name_ru FROM custom_places WHERE region_code = $1 AND city_code = ''",
    )
    .bind(code)
    .fetch_optional(&cx.infra.db)
    .await?;
    Ok(custom.unwrap_or_else(|| code.to_string()))
}

async fn context(cx: &ComposeCtx, summary: &AppealSummary) -> Result<Value, NotReady> {
    let admin_url = format!(
        "{}/api/v1/admin/appeals/{}",
        cx.config().console_base(),
        summary.id
    );
    Ok(minijinja::context! {
        lang => STAFF_LANG.code(),
        case => &summary.case_number,
        category => i18n::t(STAFF_LANG, &format!("appeal_category.{}", summary.category)),
        region => region_name(cx, &summary.region).await?,
        admin_url => Value::from_safe_string(admin_url),
    })
}

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let Some(summary) = appeals::load_summary(&cx.infra.db, row.ref_id).await? else {
        return Err(NotReady::Skip("appeal erased"));
    };
    let ctx = context(cx, &summary).await?;
    let env = &cx.templates;
    let fail = |e: minijinja::Error| NotReady::Fail(format!("template staff_alert: {e}"));
    let config = cx.config();
    let message = match row.channel.as_str() {
        "email" => {
            let Ok(to) = EmailAddress::parse(&config.appeals.staff_email) else {
                return Err(NotReady::Skip("appeals.staff_email is not set"));
            };
            let subject = i18n::fill(
                &i18n::t(STAFF_LANG, "appeal_mail.staff_subject"),
                &[("case", &summary.case_number)],
            );
            let ctx = minijinja::context! { subject => &subject, ..ctx };
            let render = |name: &str| {
                env.get_template(name)
                    .and_then(|t| t.render(&ctx))
                    .map_err(fail)
            };
            Outgoing::Email(EmailMessage {
                to,
                from: config.email.from.clone(),
                reply_to: None,
                subject: subject.clone(),
                text: render("email/staff_alert.txt")?,
                html: Some(render("email/staff_alert.html")?),
                message_id: render::message_id(config, row.id),
                language: STAFF_LANG.code().to_string(),
                headers: Vec::new(),
                inline: Vec::new(),
            })
        }
        "telegram" => {
            let html = env
                .get_template("telegram/staff_alert.html")
                .and_then(|t| t.render(&ctx))
                .map_err(fail)?;
            crate::telegram::posts::staff_alert(config, html.trim().to_string())
                .ok_or(NotReady::Skip("telegram.staff_chat is not set"))?
        }
        other => return Err(NotReady::Fail(format!("staff alert on channel {other}"))),
    };
    Ok(Prepared {
        message,
        suppress_key: None,
    })
}
