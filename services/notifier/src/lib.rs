//! notifier: events -> deliveries -> sent. It consumes the events that start
//! work (a pending contact to confirm, a triggered campaign, an appeal to
//! acknowledge), records every delivery in the ledger, and sends through
//! the channels within provider limits.
//!
//! It must never hold a database transaction open across an SMTP or HTTP
//! call, and never put personal data in a log line or an event.

pub mod appeals;
pub mod bounces;
pub mod channels;
pub mod compose;
pub mod consultations;
pub mod deliveries;
pub mod fanout;
pub mod handlers;
pub mod letters;
pub mod render;
pub mod telegram;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use nasvyazi_shared::consumer::{ConsumerRunner, ConsumerSpec, Inbox};
use nasvyazi_shared::crypto::Keyring;

use nasvyazi_shared::outbox::{Outbox, Relay};
use nasvyazi_shared::{Config, Infra, http, shutdown};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nasvyazi notifier",
        description = "Operations endpoints of the notifier."
    ),
    paths(
        nasvyazi_shared::http::healthz,
        nasvyazi_shared::http::readyz,
        nasvyazi_shared::http::metrics
    )
)]
struct ApiDoc;

/// The notifier's HTTP surface: health, readiness, metrics, OpenAPI.
pub fn router(infra: &Infra) -> axum::Router {
    let c = &infra.config.http;
    http::with_layers(
        http::basics_router(infra.clone(), &ApiDoc::openapi()),
        c.body_limit_bytes,
        Duration::from_secs(c.request_timeout_secs),
    )
}

/// Runs the notifier until `shutdown`.
pub async fn run(
    config: Arc<Config>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let Some(infra) =
        nasvyazi_shared::startup::connect(config, "notifier", &listener, &shutdown).await?
    else {
        return Ok(());
    };
    run_with(infra, listener, shutdown).await
}

/// As [`run`], on connections already made.
pub async fn run_with(
    infra: Infra,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let sender = telegram::Sender::from_config(&infra.config)?;
    let keys = Arc::new(Keyring::from_config(&infra.config.crypto)?);
    let email = channels::email_channel(&infra.config)?;
    let worker = Arc::new(worker::Worker {
        compose: compose::ComposeCtx {
            infra: infra.clone(),
            keys: keys.clone(),
            templates: render::templates(),
            telegram: sender.is_some(),
            campaigns: Default::default(),
            preloaded: Default::default(),
        },
        email: email.clone(),
        telegram: sender.as_ref().map(|s| s.channel.clone()),
        telegram_lease: sender.as_ref().map(|s| s.lease.clone()),
        in_flight: Default::default(),
    });
    let mut tasks = JoinSet::new();
    channels::folder::spawn(&infra, &mut tasks, &shutdown);
    bounces::spawn(&infra, keys.clone(), &mut tasks, &shutdown).await?;
    letters::spawn(&infra, keys.clone(), email, &mut tasks, &shutdown);
    if let Some(sender) = &sender {
        // The bot's senders share one LISTEN connection.
        let (reply_wake, answer_wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        tasks.spawn(telegram::listen(
            infra.db.clone(),
            vec![
                (consultations::REPLY_WAKE, reply_wake.clone()),
                (
                    nasvyazi_shared::telegram::answers::WAKE,
                    answer_wake.clone(),
                ),
            ],
            shutdown.clone(),
        ));
        let replies = Arc::new(consultations::ReplySender {
            infra: infra.clone(),
            keys: keys.clone(),
            telegram: sender.telegram.clone(),
            lease: sender.lease.clone(),
            wake: reply_wake,
        });
        tasks.spawn(replies.run(shutdown.clone()));
        // The bot's answers to people, queued by front: first in the budget.
        let answers = Arc::new(telegram::answers::AnswerSender::new(
            infra.clone(),
            keys.clone(),
            sender.telegram.clone(),
            sender.lease.clone(),
            answer_wake,
        ));
        tasks.spawn(answers.run(shutdown.clone()));
    }
    let consumer = |durable: &str, event_type: &str| ConsumerSpec {
        durable: durable.into(),
        event_type: event_type.into(),
        inbox: Inbox::Notifier,
    };
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            consumer("notifier-conversation-opened", "conversation.opened"),
            Arc::new(consultations::ConversationOpened {
                config: infra.config.clone(),
            }),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            consumer("notifier-conversation-alert", "conversation.alert"),
            Arc::new(consultations::ConversationAlert {
                config: infra.config.clone(),
            }),
        )
        .run(shutdown.clone()),
    );
    if let Some(sender) = sender {
        let (db, shutdown) = (infra.db.clone(), shutdown.clone());
        tasks.spawn(async move {
            sender.lease.keep(&db, &shutdown).await;
            Ok(())
        });
    }
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            ConsumerSpec {
                durable: "notifier-contact-confirmed".into(),
                event_type: "contact.confirmed".into(),
                inbox: Inbox::Notifier,
            },
            Arc::new(telegram::blocked::ContactConfirmed),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(http::serve(listener, router(&infra), shutdown.clone()));
    tasks.spawn(Relay::new(&infra, Outbox::Notifier).run(shutdown.clone()));
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            ConsumerSpec {
                durable: "notifier-contact-pending".into(),
                event_type: "contact.pending".into(),
                inbox: Inbox::Notifier,
            },
            Arc::new(handlers::ContactPending),
        )
        .run(shutdown.clone()),
    );
    for (durable, event_type) in [
        ("notifier-campaign-triggered", "campaign.triggered"),
        ("notifier-campaign-resend", "campaign.resend_requested"),
        ("notifier-campaign-test", "campaign.test_requested"),
    ] {
        let spec = ConsumerSpec {
            durable: durable.into(),
            event_type: event_type.into(),
            inbox: Inbox::Notifier,
        };
        match event_type {
            "campaign.triggered" => tasks.spawn(
                ConsumerRunner::new(&infra, spec, Arc::new(handlers::CampaignTriggered))
                    .run(shutdown.clone()),
            ),
            "campaign.resend_requested" => tasks.spawn(
                ConsumerRunner::new(&infra, spec, Arc::new(handlers::CampaignResend))
                    .run(shutdown.clone()),
            ),
            _ => tasks.spawn(
                ConsumerRunner::new(&infra, spec, Arc::new(handlers::CampaignTest))
                    .run(shutdown.clone()),
            ),
        };
    }
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            ConsumerSpec {
                durable: "notifier-console-sign-in".into(),
                event_type: "console.sign_in_requested".into(),
                inbox: Inbox::Notifier,
            },
            Arc::new(handlers::ConsoleSignIn),
        )
        .run(shutdown.clone()),
    );
    let appeal_consumer = |durable: &str, event_type: &str| ConsumerSpec {
        durable: durable.into(),
        event_type: event_type.into(),
        inbox: Inbox::Notifier,
    };
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            appeal_consumer("notifier-appeal-received", "appeal.received"),
            Arc::new(appeals::AppealReceived {
                staff: appeals::staff_channels(&infra.config),
            }),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(
        ConsumerRunner::new(
            &infra,
            appeal_consumer("notifier-appeal-status", "appeal.status_changed"),
            Arc::new(appeals::AppealStatusChanged),
        )
        .run(shutdown.clone()),
    );
    tasks.spawn(worker.run(shutdown.clone()));
    tasks.spawn(reconcile(infra.clone(), shutdown.clone()));
    tasks.spawn(progress_gauges(infra.clone(), shutdown.clone()));
    tasks.spawn(nasvyazi_shared::observe::queue_gauges(
        infra.clone(),
        shutdown.clone(),
    ));
    tracing::info!("notifier started");
    shutdown::supervise(tasks, shutdown).await
}

/// The PostgreSQL side of "NATS is the doorbell": work whose event was lost
/// is found in the ledger's sources and queued anyway.
async fn reconcile(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(e) =
            deliveries::reconcile_confirmations(&infra.db, Duration::from_secs(120)).await
        {
            tracing::warn!(error = %e, "reconciliation failed");
        }
        if let Err(e) = compose::console_link::reconcile(&infra.db, Duration::from_secs(120)).await
        {
            tracing::warn!(error = %e, "sign-in link reconciliation failed");
        }
        if let Err(e) = reconcile_occurrences(&infra).await {
            tracing::warn!(error = %format!("{e:#}"), "occurrence reconciliation failed");
        }
        let staff = appeals::staff_channels(&infra.config);
        if let Err(e) = appeals::reconcile(&infra.db, &staff, Duration::from_secs(120)).await {
            tracing::warn!(error = %e, "appeal reconciliation failed");
        }
        // Waiting alerts run with or without Telegram (web conversations
        // wait too).
        if let Err(e) = consultations::alert_waiting(&infra.db, &infra.config).await {
            tracing::warn!(error = %format!("{e:#}"), "waiting alerts failed");
        }
        if let Err(e) =
            consultations::reconcile(&infra.db, &infra.config, Duration::from_secs(120)).await
        {
            tracing::warn!(error = %format!("{e:#}"), "conversation alert reconciliation failed");
        }
    }
}

/// Occurrences whose `campaign.triggered` never arrived are expanded from
/// PostgreSQL.
async fn reconcile_occurrences(infra: &Infra) -> anyhow::Result<()> {
    for (occurrence_id, campaign_id) in
        deliveries::unexpanded_occurrences(&infra.db, Duration::from_secs(120)).await?
    {
        let Some(campaign) = nasvyazi_campaigns::Campaign::load(&infra.db, campaign_id).await?
        else {
            continue;
        };
        if campaign.status == "cancelled" {
            continue;
        }
        let mut tx = infra.db.begin().await?;
        let n = fanout::expand(&mut tx, &campaign, occurrence_id, chrono::Utc::now()).await?;
        tx.commit().await?;
        tracing::info!(%occurrence_id, deliveries = n, "reconciliation expanded an occurrence whose event was lost");
    }
    Ok(())
}

/// Campaign progress on `/metrics`: deliveries per recent occurrence,
/// channel and state (ids only; the 50 latest occurrences of the last day,
/// so the label set stays bounded).
async fn progress_gauges(infra: Infra, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        type Row = (uuid::Uuid, uuid::Uuid, String, String, i64);
        let rows: Result<Vec<Row>, _> = sqlx::query_as(
            "WITH recent AS (SELECT id, campaign_id FROM occurrences WHERE status = 'triggered'
                               AND triggered_at > now() - interval '1 day' ORDER BY triggered_at DESC LIMIT 50)
             SELECT r.campaign_id, d.ref_id, d.channel, d.status, count(*)
             FROM deliveries d JOIN recent r ON r.id = d.ref_id
             WHERE d.kind = 'campaign' GROUP BY 1, 2, 3, 4",
        )
        .fetch_all(&infra.db)
        .await;
        match rows {
            Ok(rows) => {
                for (campaign, occurrence, channel, status, n) in rows {
                    metrics::gauge!("nasvyazi_campaign_deliveries",
                        "campaign_id" => campaign.to_string(), "occurrence_id" => occurrence.to_string(),
                        "channel" => channel, "status" => status)
                    .set(n as f64);
                }
            }
            Err(e) => tracing::debug!(error = %e, "progress gauges not updated"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
        }
    }
}
