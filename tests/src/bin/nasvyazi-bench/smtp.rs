//! Email throughput: the notifier's SMTP adapter against Postfix's
//! `smtp-sink` on loopback, compared with Postfix's own load generator
//! `smtp-source` into the same sink, same message size, same connection
//! count (target: ratio at least 0.5). Also the adapter against our test
//! SMTP server, for information.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nasvyazi_notifier::channels::smtp::Smtp;
use nasvyazi_notifier::channels::{Channel, EmailMessage, Outgoing};
use nasvyazi_shared::Config;
use nasvyazi_shared::email::EmailAddress;
use nasvyazi_tests::smtp::SmtpServer;

use crate::results::Results;

pub const CONNECTIONS: u32 = 4;

pub async fn run() -> anyhow::Result<Results> {
    let mut results = Results::child();
    let n_sink: usize = std::env::var("BENCH_SMTP_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let size = sample(0).formatted_len();

    match sink_tools() {
        Some((sink, source)) => {
            let port = free_port()?;
            let mut sink_proc = Command::new(&sink)
                .args(crate::support::sink_args(port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            // Reference: smtp-source, same size and connections.
            let reference = smtp_source_rate(&source, port, n_sink, size)?;
            let ours = adapter_rate(&format!("smtp://127.0.0.1:{port}"), n_sink, None).await?;
            let _ = sink_proc.kill();
            let _ = sink_proc.wait();
            results.ratio(
                &format!("email: {n_sink} campaign emails, SMTP adapter -> smtp-sink"),
                ours,
                "msg/s",
                &format!("Postfix smtp-source -> smtp-sink, {CONNECTIONS} connections, {size} bytes: {reference:.0} msg/s"),
                reference,
                "ratio >= 0.5",
                |r| r >= 0.5,
            );
        }
        None => results.note(
            "smtp",
            "Postfix smtp-sink/smtp-source not installed (deploy/dev/bench-tools.sh)",
        ),
    }

    let server = SmtpServer::start().await;
    let n = 20_000;
    let ours = adapter_rate(&server.url(), n, Some(&server)).await?;
    results.target(
        &format!("email: SMTP adapter -> loopback test server, pool {CONNECTIONS}"),
        ours,
        "msg/s",
        &format!("{n} messages of {size} bytes; information"),
        true,
    );
    Ok(results)
}

/// Postfix's smtp-source into `port`: messages per second with
/// [`CONNECTIONS`] connections, `n` messages of `size` bytes.
pub fn smtp_source_rate(source: &str, port: u16, n: usize, size: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new(source)
        .args([
            "-s",
            &CONNECTIONS.to_string(),
            "-l",
            &size.to_string(),
            "-m",
            &n.to_string(),
            "-f",
            "noreply@forum.example.kz",
            "-t",
            "bench@example.kz",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "smtp-source failed");
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

pub fn sink_tools() -> Option<(String, String)> {
    for dir in ["/usr/sbin", "/usr/lib/postfix/sbin", "/usr/local/sbin"] {
        let (a, b) = (format!("{dir}/smtp-sink"), format!("{dir}/smtp-source"));
        if std::path::Path::new(&a).exists() && std::path::Path::new(&b).exists() {
            return Some((a, b));
        }
    }
    None
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Messages per second through the adapter, with `CONNECTIONS` pooled
/// connections and twice as many senders.
async fn adapter_rate(url: &str, n: usize, server: Option<&SmtpServer>) -> anyhow::Result<f64> {
    let config = Config::from_toml(&format!(
        "[email]\ntransport = \"smtp\"\nsmtp_url = \"{url}\"\npool_size = {CONNECTIONS}\nmax_per_second = 1000000\nmax_per_domain_per_minute = 100000000\n"
    ))?;
    let smtp = Arc::new(Smtp::new(&config.email, None)?);
    let senders = (CONNECTIONS * 2) as usize;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..senders {
        let smtp = smtp.clone();
        tasks.spawn(async move {
            let mut i = t;
            while i < n {
                smtp.send(&Outgoing::Email(sample(i)))
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                i += senders;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    if let Some(s) = server {
        s.wait_for(n, Duration::from_secs(30)).await;
    }
    Ok(rate)
}

trait Len {
    fn formatted_len(&self) -> usize;
}

impl Len for EmailMessage {
    fn formatted_len(&self) -> usize {
        nasvyazi_notifier::channels::mime::build(self, None)
            .map(|m| m.formatted().len())
            .unwrap_or(3000)
    }
}

/// A campaign email as the notifier renders it.
pub fn sample(i: usize) -> EmailMessage {
    EmailMessage {
        to: EmailAddress::parse(&format!("bench{i}@example.kz")).expect("valid"),
        from: "Forum KZ <noreply@forum.example.kz>".into(),
        reply_to: None,
        subject: "Международный день информирования о передозировках".into(),
        text: "Сегодня мы вспоминаем тех, кого потеряли, и требуем доступа к налоксону. "
            .repeat(12),
        html: Some(format!(
            "<p>{}</p>",
            "Сегодня мы вспоминаем тех, кого потеряли. ".repeat(12)
        )),
        message_id: format!("{}@forum.example.kz", uuid::Uuid::new_v4()),
        language: "ru".into(),
        headers: vec![
            (
                "List-Unsubscribe".into(),
                "<https://forum.example.kz/u/0123456789abcdef0123456789abcdef012345678>".into(),
            ),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
        inline: Vec::new(),
    }
}
