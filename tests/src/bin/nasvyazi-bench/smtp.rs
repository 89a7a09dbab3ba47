//! Email throughput: the notifier's SMTP adapter (lettre, pooled) against
//! the loopback SMTP server, messages per second. (The Postfix
//! `smtp-source` / `smtp-sink` comparison is added with the campaigns work.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use nasvyazi_notifier::channels::smtp::Smtp;
use nasvyazi_shared::Config;
use nasvyazi_shared::channel::{Channel, EmailMessage, Outgoing};
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_tests::smtp::SmtpServer;

use crate::results::Results;

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let server = SmtpServer::start().await;
    for pool in [1u32, 4] {
        let n = 2_000;
        let config = Config::from_toml(&format!(
            "[email]\ntransport = \"smtp\"\nsmtp_url = \"{}\"\npool_size = {pool}\nmax_per_second = 100000\nmax_per_domain_per_minute = 10000000\n",
            server.url()
        ))?;
        let smtp = Arc::new(Smtp::new(&config.email, None)?);
        server.clear_messages();
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let per_task = n / pool as usize;
        for t in 0..pool as usize {
            let smtp = smtp.clone();
            tasks.spawn(async move {
                for i in 0..per_task {
                    let msg = sample(t * per_task + i);
                    smtp.send(&Outgoing::Email(msg))
                        .await
                        .map_err(|e| anyhow::anyhow!("{e}"))?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        let secs = started.elapsed().as_secs_f64();
        server.wait_for(n, Duration::from_secs(10)).await;
        results.target(
            &format!("email: SMTP adapter to loopback server, pool {pool}"),
            n as f64 / secs,
            "msg/s",
            &format!("{n} multipart messages of ~3 KB; no target (information)"),
            true,
        );
    }
    Ok(results)
}

fn sample(i: usize) -> EmailMessage {
    EmailMessage {
        to: EmailAddress::parse(&format!("bench{i}@example.kz")).unwrap(),
        from: "Forum KZ <noreply@forum.example.kz>".into(),
        reply_to: None,
        subject: "Международный день памяти жертв передозировки".into(),
        text: "Текст кампании. ".repeat(60),
        html: Some(format!("<p>{}</p>", "Текст кампании. ".repeat(60))),
        message_id: format!("{}@forum.example.kz", uuid::Uuid::new_v4()),
        language: "ru".into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://forum.example.kz/u/x>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
    }
}
