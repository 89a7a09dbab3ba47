//! What a report does, in one transaction: the event is recorded once per
//! (delivery, class); a hard bounce suppresses the address, soft bounces
//! suppress it after `bounces.soft_limit` within `bounces.soft_window_days`,
//! a complaint suppresses it and announces `contact.complained` (front,
//! which owns the contact, unsubscribes it);
//! the delivery's status becomes `bounced` or `complained`. Nothing is
//! resent: a letter to an official that bounced stays `bounced` for the
//! organisers to see.

use nasvyazi_shared::config::BouncesConfig;
use nasvyazi_shared::events::Event;
use nasvyazi_shared::outbox::{self, Outbox};
use sqlx::PgPool;
use uuid::Uuid;

use super::parse::Report;
use crate::deliveries::Kind;

/// The kinds whose recipient is a supporter in `contacts` (suppressed by
/// the contact's blind index; a complaint unsubscribes the contact).
const CONTACT_KINDS: &[&str] = &[Kind::Confirmation.as_str(), Kind::Campaign.as_str()];

/// What happened to one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Recorded (and maybe suppressed).
    Recorded { suppressed: bool },
    /// Seen before, or not a bounce: nothing changed.
    Nothing,
    /// No such delivery (erased with its data, or a stale token).
    UnknownDelivery,
}

pub async fn apply(
    db: &PgPool,
    c: &BouncesConfig,
    delivery_id: Uuid,
    report: &Report,
) -> sqlx::Result<Applied> {
    let Some(kind) = report.kind() else {
        return Ok(Applied::Nothing);
    };
    let mut tx = db.begin().await?;
    type Row = (String, Uuid, Option<String>, Option<Vec<u8>>);
    let row: Option<Row> = sqlx::query_as(
        "SELECT d.kind, d.contact_id, c.channel, c.blind_index
         FROM deliveries d
         LEFT JOIN contacts c ON c.id = d.contact_id AND d.kind = ANY($2)
         WHERE d.id = $1
         FOR UPDATE OF d",
    )
    .bind(delivery_id)
    .bind(CONTACT_KINDS)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((delivery_kind, contact_id, channel, blind_index)) = row else {
        metrics::counter!("nasvyazi_bounces_total", "kind" => kind, "delivery_kind" => "unknown", "outcome" => "unknown_delivery").increment(1);
        return Ok(Applied::UnknownDelivery);
    };
    let inserted = sqlx::query(
        "INSERT INTO bounce_events (delivery_id, kind, status_code, channel, blind_index)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(delivery_id)
    .bind(kind)
    .bind(report.status())
    .bind(&channel)
    .bind(&blind_index)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(Applied::Nothing);
    }
    let suppress_reason = match (report, &blind_index) {
        (_, None) => None,
        (Report::Hard { .. }, Some(_)) => Some("bounce"),
        (Report::Complaint { .. }, Some(_)) => Some("complaint"),
        (Report::Soft { .. }, Some(bi)) => {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM bounce_events
                 WHERE kind = 'soft' AND blind_index = $1
                   AND received_at > now() - make_interval(days => $2::int)",
            )
            .bind(bi)
            .bind(c.soft_window_days as i32)
            .fetch_one(&mut *tx)
            .await?;
            (n >= c.soft_limit.max(1)).then_some("soft bounces")
        }
        (Report::Ignored, _) => None,
    };
    if let (Some(reason), Some(bi), Some(ch)) = (suppress_reason, &blind_index, &channel) {
        sqlx::query(
            "INSERT INTO suppressions (channel, blind_index, reason) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(ch)
        .bind(bi)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    }
    if matches!(report, Report::Complaint { .. }) && blind_index.is_some() && !contact_id.is_nil() {
        outbox::enqueue(
            &mut tx,
            Outbox::Notifier,
            Event::ContactComplained { contact_id },
        )
        .await?;
    }
    let (status, note) = match report {
        Report::Complaint { .. } => ("complained", "complaint (feedback report)".to_string()),
        _ => (
            "bounced",
            format!("{kind} bounce {}", report.status().unwrap_or(""))
                .trim()
                .to_string(),
        ),
    };
    sqlx::query(
        "UPDATE deliveries SET status = $2, last_error = $3, updated_at = now()
         WHERE id = $1 AND status IN ('sent', 'unknown', 'bounced', 'failed')",
    )
    .bind(delivery_id)
    .bind(status)
    .bind(&note)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let suppressed = suppress_reason.is_some();
    metrics::counter!(
        "nasvyazi_bounces_total",
        "kind" => kind,
        "delivery_kind" => delivery_label(&delivery_kind),
        "outcome" => if suppressed { "suppressed" } else { "recorded" },
    )
    .increment(1);
    tracing::info!(%delivery_id, kind, delivery_kind, suppressed, "bounce report applied");
    Ok(Applied::Recorded { suppressed })
}

/// A fixed set of labels (the kind names are ours, but bound them anyway).
fn delivery_label(kind: &str) -> &'static str {
    Kind::parse(kind).map_or("other", Kind::as_str)
}
