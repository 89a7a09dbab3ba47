//! The message an appellant who left a contact gets when their appeal's
//! status changes: the case number and the new status, never the text.
//! A row whose status nonce is no longer current is skipped: a newer
//! change has its own message.

use nasvyazi_shared::i18n;

use super::ComposeCtx;
use super::appeal_ack::{appellant, links, to_appellant};
use super::{NotReady, Prepared};
use crate::deliveries::Claimed;

pub async fn prepare(cx: &ComposeCtx, row: &Claimed) -> Result<Prepared, NotReady> {
    let (summary, contact) = appellant(cx, row).await?;
    if summary.status_nonce != row.ref_id {
        return Err(NotReady::Skip("superseded by a newer status"));
    }
    let lang = summary.lang();
    let org = &cx.config().organisation.name;
    let case = &summary.case_number;
    let status_name = i18n::t(lang, &format!("appeal_status.{}", summary.status));
    let links = links(cx, row.contact_id, lang).await?;
    let ctx = minijinja::context! {
        lang => lang.code(),
        org,
        case,
        status_name => &status_name,
        status_url => links.status_url,
        forget_url => links.forget_url,
        headline => i18n::fill(
            &i18n::t(lang, "appeal_mail.status_body"),
            &[("case", case), ("status", &status_name)],
        ),
    };
    let subject = i18n::fill(
        &i18n::t(lang, "appeal_mail.status_subject"),
        &[("case", case)],
    );
    to_appellant(cx, row, contact, lang, "appeal_status", subject, ctx).await
}
